module ww.example/echo-go

go 1.23
