#!/usr/bin/env bash
# An image data source is looked up at plan time; a newer matching image in
# the catalog replaces the instances that use it (image is force_new).
source "$(dirname "$0")/lib.sh"
mkdir -p "$INFRA_TEST_DIR/catalog/images"
echo '{"id":"img-aaa","name":"base-1","created":"2024-01-01T00:00:00Z"}' \
  >"$INFRA_TEST_DIR/catalog/images/base-1.json"
cat >"$topo" <<'YAML'
name: e2e
providers:
  test:
    dir: "${env.INFRA_TEST_DIR}"
images:
  base: { name: "base-*" }
instances:
  web:
    count: 2
    size: small
    image: "${image.base.id}"
YAML
run 2 "$infra" plan "$topo"
out_has '+ image = "img-aaa"'
run 0 "$infra" up "$topo"
[ "$(jq -r '.resources["instance.web[1]"].config.image' "$(state_doc)")" = "img-aaa" ] ||
  fail "the instance should use the looked-up image"
run 0 "$infra" plan "$topo"
out_has "No changes."

echo '{"id":"img-bbb","name":"base-2","created":"2024-06-01T00:00:00Z"}' \
  >"$INFRA_TEST_DIR/catalog/images/base-2.json"
run 2 "$infra" plan "$topo"
out_has "-/+ instance.web[0]  (replace: image)"
out_has '~ image = "img-aaa" -> "img-bbb"'
run 0 "$infra" up "$topo"
[ "$(jq -r '.resources["instance.web[0]"].config.image' "$(state_doc)")" = "img-bbb" ] ||
  fail "the instance should use the newer image"
run 0 "$infra" plan "$topo"
run 0 "$infra" down "$topo" --yes
[ "$(objects instance)" -eq 0 ] || fail "instances left"
echo "data sources are looked up at plan time"
