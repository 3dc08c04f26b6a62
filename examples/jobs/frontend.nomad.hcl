# The front end of examples/cluster-scripts.yaml: a system job, so that
# every worker runs one, on a fixed port the worker's router
# (worker-router.json) sends FRONTEND.app.ZONE to. The task stands in for
# the application's container: a web server answering with the job's
# name, its version and the worker it runs on.
variable "port" {
  type        = number
  description = "the port it answers on, on every worker"
  default     = 9001
}

variable "version" {
  type        = string
  description = "what the page says it is"
  default     = "1"
}

job "frontend" {
  type = "system"

  group "web" {
    network {
      port "http" {
        static = var.port
      }
    }

    restart {
      attempts = 2
      interval = "1m"
      delay    = "1s"
      mode     = "fail"
    }

    task "web" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args = ["-c", <<-SH
          mkdir -p "$NOMAD_TASK_DIR/www" &&
          echo "$NOMAD_JOB_NAME ${var.version} on $(hostname)" >"$NOMAD_TASK_DIR/www/index.html" &&
          exec busybox httpd -f -p "$NOMAD_PORT_http" -h "$NOMAD_TASK_DIR/www"
          SH
        ]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
