#!/bin/sh
# `pgfort` in the agent image: pgfort run by the image's own Node (images/agent/Dockerfile). A job
# exec'd into the running agent goes to the agent's warm process over its socket (the client falls
# back to a process of its own when nobody listens there).
if [ "${1-}" = job ] && [ -S /tmp/pgfort-jobs.sock ]; then
  exec /usr/local/bin/node /opt/pgfort/dist/src/agent/job-client.js "$@"
fi
exec /usr/local/bin/node /opt/pgfort/dist/src/cli/index.js "$@"
