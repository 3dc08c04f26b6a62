#!/usr/bin/env bash
# plan configures every provider it plans for, so a provider that cannot
# be configured (aws without credentials) fails plan as it would fail up:
# exit 1 naming the provider, not exit 2 with a plan that up cannot apply.
# The aws plugin needs no network to find that it has no credentials.
source "$(dirname "$0")/lib.sh"
cat >"$topo" <<'YAML'
name: e2e
providers:
  aws: { region: us-east-1 }
networks:
  main: { cidr: 10.20.0.0/16 }
YAML
mkdir -p "$work/home"
run 1 env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
  -u AWS_SHARED_CREDENTIALS_FILE -u AWS_CONFIG_FILE HOME="$work/home" "$infra" plan "$topo"
err_has 'providers.aws: provider "aws" could not be configured: aws: no AWS credentials'
run 1 env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
  -u AWS_SHARED_CREDENTIALS_FILE -u AWS_CONFIG_FILE HOME="$work/home" "$infra" plan "$topo" --json
echo "plan without credentials fails as up would"
