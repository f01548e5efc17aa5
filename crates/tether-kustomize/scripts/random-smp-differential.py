#!/usr/bin/env python3
"""Random strategic merge patches on Deployments (containers, env, ports, volumes, directives, nulls), built by the reference
`kubectl kustomize` and by Tether's `kustomize-build` example; prints every case whose parsed
objects differ. Development tool (needs kubectl with kustomize v5.5 and PyYAML); cases it
finds are worth turning into corpus cases under tests/corpus/.

Usage: cargo build -p tether-kustomize --example kustomize-build
       python3 random-smp-differential.py SEED COUNT     (KUSTOMIZE_BUILD=path overrides the binary)
"""
import random, subprocess, os, yaml, json, sys, shutil
random.seed(int(sys.argv[1]) if len(sys.argv)>1 else 1)
N=int(sys.argv[2]) if len(sys.argv)>2 else 60
B=os.environ.get("KUSTOMIZE_BUILD", os.path.expanduser("~/.cache/tether/target-kustomize/debug/examples/kustomize-build"))
def rand_env(n):
    return [{"name": random.choice("ABCDE"), "value": str(random.randint(0,9))} for _ in range(n)]
def rand_ports(n):
    out=[]
    for _ in range(n):
        p={"containerPort": random.choice([80,53,443,8080])}
        if random.random()<0.7: p["protocol"]=random.choice(["TCP","UDP"])
        if random.random()<0.5: p["name"]=random.choice(["a","b","c"])
        out.append(p)
    return out
def rand_container(name, patch=False):
    c={"name": name}
    if not patch or random.random()<0.5: c["image"]=random.choice(["x:1","y:2","z:3"])
    if random.random()<0.6: c["env"]=rand_env(random.randint(0,3))
    if random.random()<0.5: c["ports"]=rand_ports(random.randint(0,3))
    if random.random()<0.3: c["args"]=[random.choice(["a","b"]) for _ in range(random.randint(0,2))]
    if patch and random.random()<0.1: c["$patch"]=random.choice(["delete","replace"])
    if patch and random.random()<0.1: c["image"]=None
    return c
def rand_pod(patch=False):
    names=random.sample(["app","side","init","extra"], random.randint(1,3))
    spec={"containers":[rand_container(n, patch) for n in names]}
    if random.random()<0.5:
        spec["volumes"]=[{"name": random.choice(["v1","v2","v3"]), "emptyDir": {}} for _ in range(random.randint(0,2))]
    if random.random()<0.4:
        spec["tolerations"]=[{"key": random.choice("kl"), "operator":"Exists"}]
    if patch and random.random()<0.1 and not any("$patch" in c for c in spec["containers"]):
        spec["containers"].insert(0, {"$patch": random.choice(["replace","delete","merge"])})
    return spec
def dep(spec, name="web", labels=None):
    d={"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":name},"spec":{"template":{"spec":spec}}}
    if labels: d["metadata"]["labels"]=labels
    return d
bad=0
for i in range(N):
    d=f"/tmp/tether-rfz/c{i}"; shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
    base=dep(rand_pod(), labels={"a":"1"})
    patch=dep(rand_pod(True))
    if random.random()<0.3: patch["metadata"]["labels"]={"a": None, "b":"2"}
    open(f"{d}/base.yaml","w").write(yaml.safe_dump(base))
    open(f"{d}/patch.yaml","w").write(yaml.safe_dump(patch))
    open(f"{d}/kustomization.yaml","w").write("resources:\n- base.yaml\npatches:\n- path: patch.yaml\n")
    k=subprocess.run(["kubectl","kustomize",d],capture_output=True,text=True)
    t=subprocess.run([B,d],capture_output=True,text=True)
    if (k.returncode==0) != (t.returncode==0):
        bad+=1; print("EXIT MISMATCH", d, k.stderr[-300:], t.stderr[-300:]); continue
    if k.returncode!=0: continue
    ko=list(yaml.safe_load_all(k.stdout)); to=list(yaml.safe_load_all(t.stdout))
    if ko!=to:
        bad+=1; print("DIFF", d)
print("mismatches:", bad, "of", N)
