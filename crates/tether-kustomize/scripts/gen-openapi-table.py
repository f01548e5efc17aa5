#!/usr/bin/env python3
"""Generate the compact strategic-merge schema table used by tether-kustomize.

kustomize (kyaml) embeds the OpenAPI schema of Kubernetes v1.21.2 and reads from it:
  * the merge strategy and merge key(s) of every list field
    (x-kubernetes-patch-strategy, x-kubernetes-patch-merge-key, x-kubernetes-list-map-keys),
  * which group/version/kinds are cluster-scoped (from the API paths).

This script reads `api/openapi-spec/swagger.json` of that release and writes
`schema/k8s-v1.21.2.json`: only the definitions and fields on a path to a list with a patch
strategy are kept, so the table is small. Usage:

    curl -sSLo /tmp/k8s.zip https://proxy.golang.org/k8s.io/kubernetes/@v/v1.21.2.zip
    unzip -p /tmp/k8s.zip 'k8s.io/kubernetes@v1.21.2/api/openapi-spec/swagger.json' > /tmp/swagger.json
    python3 crates/tether-kustomize/scripts/gen-openapi-table.py /tmp/swagger.json \
        > crates/tether-kustomize/schema/k8s-v1.21.2.json
"""
import json
import sys

PREFIX = "io.k8s."


def short(name):
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def ref_name(schema):
    ref = schema.get("$ref")
    if ref:
        return ref.split("/")[-1]
    return None


def main():
    swagger = json.load(open(sys.argv[1]))
    defs = swagger["definitions"]

    # Raw field table: def -> field -> descriptor
    raw = {}
    for name, d in defs.items():
        fields = {}
        for fname, prop in (d.get("properties") or {}).items():
            r = ref_name(prop)
            if r:
                fields[fname] = {"ref": r}
                continue
            if prop.get("type") == "array":
                strategy = prop.get("x-kubernetes-patch-strategy", "")
                keys = prop.get("x-kubernetes-list-map-keys")
                if not keys:
                    mk = prop.get("x-kubernetes-patch-merge-key")
                    keys = [mk] if mk else []
                item = ref_name(prop.get("items") or {})
                fields[fname] = {"array": True, "s": strategy, "k": keys if strategy else [], "i": item}
                continue
            ap = prop.get("additionalProperties")
            if isinstance(ap, dict) and ref_name(ap):
                fields[fname] = {"map": ref_name(ap)}
        raw[name] = fields

    # Fixpoint: a definition is relevant when one of its fields is a list with a merge
    # strategy, or leads to a relevant definition.
    relevant = set()
    changed = True
    while changed:
        changed = False
        for name, fields in raw.items():
            if name in relevant:
                continue
            for f in fields.values():
                if f.get("array") and f["s"]:
                    hit = True
                elif f.get("array"):
                    hit = False  # non-associative lists are replaced whole: no need to descend
                else:
                    hit = (f.get("ref") or f.get("map")) in relevant
                if hit:
                    relevant.add(name)
                    changed = True
                    break

    out_defs = {}
    for name in sorted(relevant):
        fields = {}
        for fname, f in sorted(raw[name].items()):
            if f.get("array"):
                if not f["s"]:
                    continue
                entry = {"s": f["s"]}
                if f["k"]:
                    entry["k"] = f["k"]
                if f["i"] in relevant:
                    entry["i"] = short(f["i"])
                fields[fname] = entry
            elif f.get("ref") in relevant:
                fields[fname] = short(f["ref"])
            elif f.get("map") in relevant:
                fields[fname] = {"m": short(f["map"])}
        out_defs[short(name)] = fields

    gvks = {}
    for name, d in defs.items():
        for gvk in d.get("x-kubernetes-group-version-kind") or []:
            api_version = gvk["version"] if not gvk["group"] else gvk["group"] + "/" + gvk["version"]
            key = api_version + "/" + gvk["kind"]
            # the same GVK may be listed by several definitions (e.g. DeleteOptions); keep the
            # first relevant one, as kyaml indexes every definition by its GVK.
            if key not in gvks or (name in relevant and gvks[key] not in out_defs):
                gvks[key] = short(name) if name in relevant else None
    gvks = {k: v for k, v in sorted(gvks.items()) if v}

    namespaced = set()
    cluster = set()
    for path, item in swagger["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            gvk = op.get("x-kubernetes-group-version-kind")
            if not gvk:
                continue
            api_version = gvk["version"] if not gvk["group"] else gvk["group"] + "/" + gvk["version"]
            key = api_version + "/" + gvk["kind"]
            if "{namespace}" in path:
                namespaced.add(key)
            else:
                cluster.add(key)
    cluster_only = sorted(cluster - namespaced)

    json.dump(
        {
            "source": "kubernetes v1.21.2 api/openapi-spec/swagger.json",
            "gvk": gvks,
            "clusterScoped": cluster_only,
            "defs": out_defs,
        },
        sys.stdout,
        indent=0,
        sort_keys=False,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
