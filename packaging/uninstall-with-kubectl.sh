#!/bin/sh
# Removes spillway's finalizers from every Secret, ConfigMap and SpillwayProfile with kubectl alone, for clusters
# where the spillwayd binary is not at hand: spillwayd's `spillway.kroy.io/replicas` and the original
# spillway's `spillway.kroy.io/finalizer`; other finalizers stay. Run it once no spillway
# controller runs any more (a running one puts its finalizer back). Replicas stay; with
# --delete-replicas they are deleted too, except pulled copies (label spillway.kroy.io/pulled):
# those are their namespaces' own objects, which `spillwayd uninstall --delete-replicas` empties;
# and except replicas a management host wrote into this cluster for the sources of another one
# (annotation spillway.kroy.io/source-cluster): they are that host's, and its uninstall's.
# KUBECTL="kubectl --context prod" picks the cluster.
#
#   packaging/uninstall-with-kubectl.sh [--delete-replicas]
set -eu
kubectl=${KUBECTL:-kubectl}
tab=$(printf '\t')
failed=0

if [ "${1:-}" = --delete-replicas ]; then
	# The source-cluster annotation cannot be selected on: read it, and delete the others by name.
	replicas=$($kubectl get secrets,configmaps -A -l 'spillway.kroy.io/managed-by=spillway,spillway.kroy.io/pulled!=true' \
		-o jsonpath='{range .items[*]}{.kind}{"\t"}{.metadata.namespace}{"\t"}{.metadata.name}{"\t"}{.metadata.annotations.spillway\.kroy\.io/source-cluster}{"\n"}{end}')
	while IFS="$tab" read -r kind namespace name cluster; do
		[ -n "$name" ] && [ -z "$cluster" ] || continue
		$kubectl -n "$namespace" delete "$kind" "$name" --ignore-not-found --wait=false || failed=1
	done <<REPLICAS
$replicas
REPLICAS
fi

kinds="secrets configmaps"
# SpillwayProfiles hold the same finalizer, where the CRD is installed.
if $kubectl get spillwayprofiles.spillway.kroy.io -A -o name >/dev/null 2>&1; then
	kinds="$kinds spillwayprofiles.spillway.kroy.io"
fi

for kind in $kinds; do
	list=$($kubectl get "$kind" -A -o jsonpath='{range .items[*]}{.metadata.namespace}{"\t"}{.metadata.name}{"\t"}{.metadata.resourceVersion}{"\t"}{.metadata.finalizers}{"\n"}{end}')
	while IFS="$tab" read -r namespace name version finalizers; do
		case "$finalizers" in
		*'"spillway.kroy.io/replicas"'* | *'"spillway.kroy.io/finalizer"'*) ;;
		*) continue ;;
		esac
		# kubectl prints the list as JSON (["a","b"]): keep every entry but spillway's.
		kept=$(printf '%s\n' "$finalizers" | tr -d '[]' | tr ',' '\n' \
			| grep -v -x -e '"spillway.kroy.io/replicas"' -e '"spillway.kroy.io/finalizer"' | paste -s -d, -) || true
		# The resourceVersion makes it a conditional write: a finalizer added meanwhile is not lost.
		if $kubectl -n "$namespace" patch "$kind" "$name" --type=merge \
			-p "{\"metadata\":{\"resourceVersion\":\"$version\",\"finalizers\":[$kept]}}" >/dev/null; then
			echo "finalizer removed  $kind $namespace/$name"
		else
			failed=1
		fi
	done <<LIST
$list
LIST
done

if [ "$failed" -ne 0 ]; then
	echo "some objects changed meanwhile or could not be patched: run this again" >&2
	exit 1
fi
