#!/bin/sh
# `pgfort` in the agent image: pgfort run by the image's own Node (images/agent/Dockerfile).
exec /usr/local/bin/node /opt/pgfort/dist/src/cli/index.js "$@"
