#!/usr/bin/env python3
"""Random patch target selectors (name/kind regexes, label and annotation selectors,
namespaces) with JSON patches, built by `kubectl kustomize` and Tether's `kustomize-build`
example; prints the cases whose parsed objects differ. Development tool.

Usage: python3 random-selectors-differential.py SEED COUNT
"""
import random, subprocess, os, yaml, shutil, sys
random.seed(int(sys.argv[1]))
B=os.environ.get("KUSTOMIZE_BUILD", os.path.expanduser("~/.cache/tether/target-kustomize/debug/examples/kustomize-build"))
bad=0
for i in range(int(sys.argv[2])):
    d=f"/tmp/tether-rsel/c{i}"; shutil.rmtree(d,ignore_errors=True); os.makedirs(d)
    objs=[]
    for j in range(5):
        k=random.choice(["ConfigMap","Secret","Service","Widget"])
        o={"apiVersion": "example.com/v1" if k=="Widget" else "v1","kind":k,"metadata":{"name":random.choice(["web","web-1","api","db"])+str(j)}}
        if random.random()<0.5: o["metadata"]["namespace"]=random.choice(["default","prod","dev"])
        if random.random()<0.7: o["metadata"]["labels"]={random.choice(["app","tier"]):random.choice(["a","b","c"])}
        if random.random()<0.4: o["metadata"]["annotations"]={"team":random.choice(["x","y"])}
        objs.append(o)
    open(f"{d}/r.yaml","w").write(yaml.safe_dump_all(objs))
    t={}
    r=random.random()
    if r<0.25: t["name"]=random.choice(["web.*","web-[0-9]","api0|db1","web","(web|api)[0-9]"])
    elif r<0.5: t["labelSelector"]=random.choice(["app=a","app!=a","tier in (a,b)","tier notin (c)","app","!app","app=a,tier=b","app in (a, b)"])
    elif r<0.7: t["annotationSelector"]=random.choice(["team=x","team","!team"])
    elif r<0.85: t["namespace"]=random.choice(["default","prod","dev","pro.*"])
    else: t["kind"]=random.choice(["ConfigMap|Secret","Widget","Serv.*"]); 
    if random.random()<0.3: t["version"]="v1"
    if random.random()<0.2: t["group"]=random.choice(["","example.com"])
    open(f"{d}/kustomization.yaml","w").write(yaml.safe_dump({"resources":["r.yaml"],"patches":[{"target":t,"patch":"- op: add\n  path: /metadata/annotations/selected\n  value: \"yes\"\n" if random.random()<0.5 else "- op: add\n  path: /metadata/labels\n  value: {sel: \"1\"}\n"}]}))
    k=subprocess.run(["kubectl","kustomize",d],capture_output=True,text=True)
    tt=subprocess.run([B,d],capture_output=True,text=True)
    if (k.returncode==0)!=(tt.returncode==0): bad+=1; print("EXIT",d,k.stderr.strip()[-200:],"|",tt.stderr.strip()[-200:]); continue
    if k.returncode: continue
    if list(yaml.safe_load_all(k.stdout))!=list(yaml.safe_load_all(tt.stdout)): bad+=1; print("DIFF",d)
print("mismatches",bad)
