#!/usr/bin/env python3
"""Random `replacements` (field paths with selectors and wildcards, delimiters, create,
reject) built by `kubectl kustomize` and Tether's `kustomize-build` example; prints the cases
that differ. Development tool. Known remaining differences: a delimiter replacement into a
field created by an earlier replacement, and `create` through a list index past the end.

Usage: python3 random-replacements-differential.py SEED COUNT
"""
import random, subprocess, os, yaml, shutil, sys
random.seed(int(sys.argv[1]))
B=os.environ.get("KUSTOMIZE_BUILD", os.path.expanduser("~/.cache/tether/target-kustomize/debug/examples/kustomize-build"))
bad=0
for i in range(int(sys.argv[2])):
    d=f"/tmp/tether-rrep/c{i}"; shutil.rmtree(d,ignore_errors=True); os.makedirs(d)
    cm={"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"src"},"data":{"host":"a.b.c","port":"8080","list":"x,y,z","num": "3"}}
    dep={"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"c1","image":"nginx:1","env":[{"name":"HOST","value":"old"},{"name":"PORT","value":"1"}],"args":["--a=b","x"]},{"name":"c2","image":"busybox"}]}}}}
    svc={"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"ports":[{"port":80,"targetPort":80}]}}
    open(f"{d}/r.yaml","w").write(yaml.safe_dump_all([cm,dep,svc]))
    reps=[]
    for _ in range(random.randint(1,3)):
        src={"kind":"ConfigMap","name":"src","fieldPath":random.choice(["data.host","data.port","data.list","data.num","metadata.name"])}
        if random.random()<0.3: src["options"]={"delimiter":random.choice([".",","]),"index":random.randint(0,2)}
        tgt={"select":random.choice([{"kind":"Deployment"},{"name":"web"},{"kind":"Service"}]),
             "fieldPaths":[random.choice(["spec.template.spec.containers.[name=c1].env.[name=HOST].value","spec.replicas","spec.ports.0.port","spec.ports.0.targetPort","metadata.labels.app","metadata.annotations.new","spec.template.spec.containers.*.image","spec.template.spec.containers.[name=c1].args.1"])]}
        if random.random()<0.4: tgt["options"]={"create":True}
        if random.random()<0.2: tgt.setdefault("options",{}).update({"delimiter":":","index":random.choice([-1,0,1,5])})
        if random.random()<0.2: tgt["reject"]=[{"kind":"Service"}]
        reps.append({"source":src,"targets":[tgt]})
    open(f"{d}/kustomization.yaml","w").write(yaml.safe_dump({"resources":["r.yaml"],"replacements":reps}))
    k=subprocess.run(["kubectl","kustomize",d],capture_output=True,text=True)
    t=subprocess.run([B,d],capture_output=True,text=True)
    if (k.returncode==0)!=(t.returncode==0): bad+=1; print("EXIT",d,k.stderr.strip()[-150:],"|",t.stderr.strip()[-150:]); continue
    if k.returncode: continue
    if list(yaml.safe_load_all(k.stdout))!=list(yaml.safe_load_all(t.stdout)): bad+=1; print("DIFF",d)
print("mismatches",bad)
