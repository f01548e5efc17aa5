#!/usr/bin/env python3
"""Random configMapGenerator/secretGenerator inputs (literals with quotes, HTML characters,
unicode, env files, binary files, immutable) built by `kubectl kustomize` and Tether's
`kustomize-build` example: checks data, binaryData and the name hash. Development tool.

Usage: python3 random-generators-differential.py SEED COUNT
"""
import random, subprocess, os, yaml, shutil, sys
random.seed(int(sys.argv[1]))
B=os.environ.get("KUSTOMIZE_BUILD", os.path.expanduser("~/.cache/tether/target-kustomize/debug/examples/kustomize-build"))
chars=['a','Z','0',' ','=','"',"'",'<','>','&','é','\u2028','日','\\','#',':','-','\t','{','$']
def val():
    return "".join(random.choice(chars) for _ in range(random.randint(0,8)))
bad=0
for i in range(int(sys.argv[2])):
    d=f"/tmp/tether-rgen/c{i}"; shutil.rmtree(d,ignore_errors=True); os.makedirs(d)
    lits=[]
    keys=set()
    for _ in range(random.randint(1,4)):
        k=random.choice(["a","B_2","c.d","e-f"])
        if k in keys: continue
        keys.add(k); v=val()
        if random.random()<0.2: v='"'+v+'"'
        lits.append(f"{k}={v}")
    envtxt="".join(f"{random.choice(['X','Y','Z_1'])}{random.randint(0,99)}={val()}\n" for _ in range(random.randint(0,3)))
    if random.random()<0.3: envtxt="# c\n\n"+envtxt+"  W=lead\n"
    open(f"{d}/e.env","w",encoding="utf-8").write(envtxt)
    data=os.urandom(random.randint(0,40)) if random.random()<0.3 else val().encode()+b"\n"
    open(f"{d}/f.bin","wb").write(data)
    kz={"configMapGenerator":[{"name":"cm","literals":lits,"envs":["e.env"],"files":["f.bin"]}],
        "secretGenerator":[{"name":"s","literals":lits,"files":["k=f.bin"],"type":random.choice(["Opaque","x/y"])}]}
    if random.random()<0.3: kz["generatorOptions"]={"immutable":True}
    open(f"{d}/kustomization.yaml","w").write(yaml.safe_dump(kz, allow_unicode=True))
    k=subprocess.run(["kubectl","kustomize",d],capture_output=True)
    t=subprocess.run([B,d],capture_output=True)
    if (k.returncode==0)!=(t.returncode==0): bad+=1; print("EXIT",d,k.stderr[-200:],t.stderr[-200:]); continue
    if k.returncode: continue
    try:
        ko=list(yaml.safe_load_all(k.stdout.decode()))
    except Exception:
        continue  # PyYAML (YAML 1.1) cannot read some of kustomize's plain scalars, e.g. `=`
    if ko!=list(yaml.safe_load_all(t.stdout.decode())): bad+=1; print("DIFF",d)
print("mismatches",bad)
