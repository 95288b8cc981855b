# Stand-in for postgres:17 (see build-base-images.sh): Debian's postgresql behind an
# entrypoint that honours the official image's environment and data directory.
ARG ROOTFS
FROM ${ROOTFS}
# No cluster at install time: the entrypoint runs initdb into PGDATA (a volume) at first start.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main.conf \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql \
 && rm -rf /var/lib/apt/lists/* \
 && pgbin=$(ls -d /usr/lib/postgresql/*/bin) && ln -s "$pgbin" /usr/lib/postgresql/bin \
 && mkdir -p /var/run/postgresql /var/lib/postgresql/data \
 && chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql \
 && chmod 2777 /var/run/postgresql
ENV PATH=/usr/lib/postgresql/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
LABEL org.twotier.stand-in=true
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
