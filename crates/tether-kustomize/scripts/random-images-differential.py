#!/usr/bin/env python3
"""Random `images` transforms (registries with ports, tags, digests, regex names) on Pods and
custom resources, built by `kubectl kustomize` and Tether's `kustomize-build` example; prints
the cases whose parsed objects differ. Development tool, like random-smp-differential.py.

Usage: python3 random-images-differential.py SEED COUNT
"""
import random, subprocess, os, yaml, shutil, sys
random.seed(int(sys.argv[1]))
B=os.environ.get("KUSTOMIZE_BUILD", os.path.expanduser("~/.cache/tether/target-kustomize/debug/examples/kustomize-build"))
names=["nginx","library/nginx","docker.io/nginx","reg.io:5000/team/app","app","app.v2","ghcr.io/o/app-x"]
def img():
    n=random.choice(names); r=random.random()
    if r<0.3: return n
    if r<0.6: return n+":"+random.choice(["1","1.2.3","latest","v1-beta"])
    if r<0.8: return n+"@sha256:"+"a"*8
    return n+":"+"2"+"@sha256:"+"b"*8
bad=0
for i in range(int(sys.argv[2])):
    d=f"/tmp/tether-rimg/c{i}"; shutil.rmtree(d,ignore_errors=True); os.makedirs(d)
    pod={"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":f"c{j}","image":img()} for j in range(4)],"initContainers":[{"name":"i","image":img()}]}}
    cr={"apiVersion":"x.io/v1","kind":"Thing","metadata":{"name":"t"},"spec":{"containers":[{"name":"a","image":img()}],"image":img()}}
    open(f"{d}/r.yaml","w").write(yaml.safe_dump_all([pod,cr]))
    ims=[]
    for _ in range(random.randint(1,3)):
        e={"name":random.choice(names+["ngin.","app*"])}
        if random.random()<0.5: e["newName"]=random.choice(["mirror/x","reg.io:5000/y"])
        if random.random()<0.5: e["newTag"]=random.choice(["9","10.1"])
        if random.random()<0.3: e["digest"]="sha256:"+"c"*8
        ims.append(e)
    open(f"{d}/kustomization.yaml","w").write(yaml.safe_dump({"resources":["r.yaml"],"images":ims}))
    k=subprocess.run(["kubectl","kustomize",d],capture_output=True,text=True)
    t=subprocess.run([B,d],capture_output=True,text=True)
    if (k.returncode==0)!=(t.returncode==0): bad+=1; print("EXIT",d,k.stderr[-200:],t.stderr[-200:]); continue
    if k.returncode: continue
    if list(yaml.safe_load_all(k.stdout))!=list(yaml.safe_load_all(t.stdout)): bad+=1; print("DIFF",d)
print("mismatches",bad)
