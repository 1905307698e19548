module ww.example/argo-images/sh

go 1.23

require (
	golang.org/x/sync v0.1.0
	golang.org/x/term v0.3.0
	mvdan.cc/sh/v3 v3.6.0
)
