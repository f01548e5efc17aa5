#!/usr/bin/env python3
"""Random overlay stacks (1-3 layers): prefixes, suffixes, namespaces, labels, annotations, images, generators with merge/replace, name references, built by the reference
`kubectl kustomize` and by Tether's `kustomize-build` example; prints every case whose parsed
objects differ. Development tool (needs kubectl with kustomize v5.5 and PyYAML); cases it
finds are worth turning into corpus cases under tests/corpus/.

Usage: cargo build -p tether-kustomize --example kustomize-build
       python3 random-layers-differential.py SEED COUNT     (KUSTOMIZE_BUILD=path overrides the binary)
"""
import random, subprocess, os, yaml, sys, shutil
random.seed(int(sys.argv[1])); N=int(sys.argv[2])
B=os.environ.get("KUSTOMIZE_BUILD", os.path.expanduser("~/.cache/tether/target-kustomize/debug/examples/kustomize-build"))
def res(name):
    kinds=["Deployment","Service","ConfigMap","Secret","ServiceAccount","Role","RoleBinding","Widget","Namespace","ClusterRole","StatefulSet","Ingress"]
    k=random.choice(kinds)
    if k=="Deployment":
        return {"apiVersion":"apps/v1","kind":k,"metadata":{"name":name},"spec":{"selector":{"matchLabels":{"app":name}},"template":{"metadata":{"labels":{"app":name}},"spec":{"serviceAccountName":"sa","containers":[{"name":"c","image":random.choice(["nginx","nginx:1","busybox@sha256:aa"]),"envFrom":[{"configMapRef":{"name":"cfg"}},{"secretRef":{"name":"sec"}}]}],"volumes":[{"name":"v","configMap":{"name":"cfg"}}]}}}}
    if k=="Service": return {"apiVersion":"v1","kind":k,"metadata":{"name":name},"spec":{"selector":{"app":name},"ports":[{"port":80}]}}
    if k=="ConfigMap": return {"apiVersion":"v1","kind":k,"metadata":{"name":name},"data":{"k":"v"}}
    if k=="Secret": return {"apiVersion":"v1","kind":k,"metadata":{"name":name},"data":{"k":"dg=="}}
    if k=="ServiceAccount": return {"apiVersion":"v1","kind":k,"metadata":{"name":random.choice(["sa","default",name])}}
    if k=="Role": return {"apiVersion":"rbac.authorization.k8s.io/v1","kind":k,"metadata":{"name":name},"rules":[]}
    if k=="RoleBinding": return {"apiVersion":"rbac.authorization.k8s.io/v1","kind":k,"metadata":{"name":name},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"r"},"subjects":[{"kind":"ServiceAccount","name":random.choice(["sa","default"])}]}
    if k=="Widget": return {"apiVersion":"example.com/v1","kind":k,"metadata":{"name":name},"spec":{"list":[{"name":"a"}]}}
    if k=="Namespace": return {"apiVersion":"v1","kind":k,"metadata":{"name":name}}
    if k=="ClusterRole": return {"apiVersion":"rbac.authorization.k8s.io/v1","kind":k,"metadata":{"name":name},"rules":[]}
    if k=="StatefulSet": return {"apiVersion":"apps/v1","kind":k,"metadata":{"name":name},"spec":{"serviceName":"svc","selector":{"matchLabels":{"a":"b"}},"template":{"spec":{"containers":[{"name":"c","image":"redis"}]}}}}
    if k=="Ingress": return {"apiVersion":"networking.k8s.io/v1","kind":k,"metadata":{"name":name},"spec":{"tls":[{"secretName":"sec"}],"rules":[{"http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"svc","port":{"number":80}}}}]}}]}}
def layer(d, sub, i):
    os.makedirs(d, exist_ok=True)
    k={}
    if sub: k["resources"]=[sub]
    objs=[res(f"o{i}{j}") for j in range(random.randint(1,4))]
    seen=set(); uniq=[]
    for o in objs:
        key=(o["kind"],o["metadata"]["name"])
        if key in seen: continue
        seen.add(key); uniq.append(o)
    open(f"{d}/r.yaml","w").write(yaml.safe_dump_all(uniq))
    k.setdefault("resources",[]).append("r.yaml")
    if random.random()<0.5: k["namePrefix"]=random.choice(["p-","q-"])
    if random.random()<0.3: k["nameSuffix"]="-s"
    if random.random()<0.4: k["namespace"]=random.choice(["ns1","ns2"])
    if random.random()<0.4: k["commonLabels"]={"team": random.choice(["a","b"])}
    if random.random()<0.3: k["labels"]=[{"pairs":{"l": "v"}, "includeTemplates": random.random()<0.5}]
    if random.random()<0.3: k["commonAnnotations"]={"note":"x"}
    if random.random()<0.4: k["images"]=[{"name": random.choice(["nginx","busybox"]), "newTag": "9"}]
    pats=[]
    if random.random()<0.4:
        pats.append({"target":{"kind":random.choice(["Deployment","Service","ConfigMap","Widget"])},
                     "patch":"- op: add\n  path: /metadata/annotations\n  value: {patched: \"yes\"}\n"})
    if random.random()<0.3:
        pats.append({"target":{"labelSelector":"team=a"},
                     "patch":"apiVersion: v1\nkind: Any\nmetadata:\n  name: any\n  labels:\n    selected: \"1\"\n"})
    if random.random()<0.2:
        pats.append({"target":{"kind":"Deployment","name":"o.*"},
                     "patch":"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n      - name: side\n        image: side:1\n"})
    if pats: k["patches"]=pats
    if random.random()<0.25:
        k["replacements"]=[{"source":{"kind":"ConfigMap","name":"cfg","fieldPath":"metadata.name"},
                            "targets":[{"select":{"kind":"Deployment"},"fieldPaths":["metadata.annotations.cfg"],"options":{"create":True}}]}]
    if random.random()<0.3:
        os.makedirs(f"{d}/comp", exist_ok=True)
        open(f"{d}/comp/kustomization.yaml","w").write(yaml.safe_dump({"apiVersion":"kustomize.config.k8s.io/v1alpha1","kind":"Component",
            "commonAnnotations":{"comp":"yes"}, "configMapGenerator":[{"name":"compcfg","literals":["c=1"]}]}))
        k["components"]=["comp"]
    gens=[]
    if not sub or random.random()<0.5:
        gens=[{"name":"cfg","literals":[f"a={random.randint(0,9)}"]}]
        if sub: gens[0]["behavior"]=random.choice(["merge","replace"])
    if gens: k["configMapGenerator"]=gens
    if not sub: k["secretGenerator"]=[{"name":"sec","literals":["p=1"]}]
    open(f"{d}/kustomization.yaml","w").write(yaml.safe_dump(k))
bad=0
for n in range(N):
    root=f"/tmp/tether-rfz2/c{n}"; shutil.rmtree(root, ignore_errors=True)
    depth=random.randint(1,3); prev=None
    for i in range(depth):
        d=f"{root}/l{i}"
        layer(d, f"../l{i-1}" if i>0 else None, i)
    top=f"{root}/l{depth-1}"
    k=subprocess.run(["kubectl","kustomize",top],capture_output=True,text=True)
    t=subprocess.run([B,top],capture_output=True,text=True)
    if (k.returncode==0)!=(t.returncode==0):
        bad+=1; print("EXIT", top, k.stderr.strip()[-200:], "|", t.stderr.strip()[-200:]); continue
    if k.returncode: continue
    if list(yaml.safe_load_all(k.stdout))!=list(yaml.safe_load_all(t.stdout)):
        bad+=1; print("DIFF", top)
print("mismatches:", bad, "of", N)
