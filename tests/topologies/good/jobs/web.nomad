job "web" { }
