// Package e2e is the fault-injection suite over the compose cluster of
// deploy/ (build tag e2e_docker): steady casts through 127.0.0.1, then
// one perturbation after another, each measured. Run it with
//
//	go test -tags e2e_docker ./deploy/e2e -v -timeout 60m
//
// It starts the cluster with deploy/up.sh and removes it at the end.
package e2e
