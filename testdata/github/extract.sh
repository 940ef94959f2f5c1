#!/usr/bin/env bash
# Extracts GitHub's own published example responses, for the endpoints the
# GitHub inventory adapter, the organisation scanner (repositories, secret-scanning
# alerts, App installation tokens) and the IAM scanner (OIDC subject templates) call, from the @octokit/openapi npm package (the
# OpenAPI description GitHub publishes) into examples.json. The replay server
# in internal/testenv serves them; nothing here is hand-written JSON.
#   bash testdata/github/extract.sh    (needs npm and python3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=23.0.2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@octokit/openapi@$version" >/dev/null && tar -xzf octokit-openapi-*.tgz package/generated/api.github.com.json)
python3 - "$tmp/package/generated/api.github.com.json" "$here/examples.json" "$version" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
endpoints = [
    "/orgs/{org}/repos",
    "/orgs/{org}/actions/secrets",
    "/orgs/{org}/dependabot/secrets",
    "/orgs/{org}/codespaces/secrets",
    "/orgs/{org}/actions/variables",
    "/repos/{owner}/{repo}/actions/secrets",
    "/repos/{owner}/{repo}/dependabot/secrets",
    "/repos/{owner}/{repo}/codespaces/secrets",
    "/repos/{owner}/{repo}/actions/variables",
    "/repos/{owner}/{repo}/environments",
    "/repos/{owner}/{repo}/environments/{environment_name}/secrets",
    "/repos/{owner}/{repo}/environments/{environment_name}/variables",
    "/orgs/{org}/actions/oidc/customization/sub",
    "/orgs/{org}/secret-scanning/alerts",
]
# Responses to other methods, by status: a GitHub App's installation token.
others = [
    ("post", "/app/installations/{installation_id}/access_tokens", "201"),
]
def resolve(ref):
    node = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node
out = {"source": f"@octokit/openapi@{sys.argv[3]} generated/api.github.com.json", "examples": {}}
for path in endpoints:
    ex = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["examples"]["default"]
    if "$ref" in ex:
        ex = resolve(ex["$ref"])
    value = ex["value"]
    # GitHub's variables example has "value": true, but the schema (and the
    # real API) says a variable's value is a string; go-github decodes by the
    # schema. Coerce to the schema's type, and nothing else.
    for v in (value.get("variables", []) if isinstance(value, dict) else []):
        if not isinstance(v.get("value"), str):
            v["value"] = json.dumps(v["value"])
    out["examples"]["GET " + path] = value
for method, path, status in others:
    ex = spec["paths"][path][method]["responses"][status]["content"]["application/json"]["examples"]["default"]
    if "$ref" in ex:
        ex = resolve(ex["$ref"])
    out["examples"][method.upper() + " " + path] = ex["value"]
with open(sys.argv[2], "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"wrote {len(out['examples'])} examples to {sys.argv[2]}")
PY
