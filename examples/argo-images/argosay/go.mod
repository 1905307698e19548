module ww.example/argo-images/argosay

go 1.23
