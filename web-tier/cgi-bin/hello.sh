#!/bin/sh
# The cheapest CGI program there is: one shell, builtins only, no interpreter to start.
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
printf 'Hello from CGI process %s (%s %s%s)\n' "$$" "$REQUEST_METHOD" "$SCRIPT_NAME" "$PATH_INFO"
