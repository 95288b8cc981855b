// The chapter's first WSGI application on twotier's interface: plain JavaScript, no build step.
/** @type {import('twotier').CreateApp} */
export default function createApp() {
  return {
    async handle() {
      return { status: 200, headers: { 'Content-Type': 'text/plain' }, body: 'Hello world!\n' };
    },
    async close() {},
  };
}
