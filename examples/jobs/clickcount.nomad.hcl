# The click-count application: one file for every variant. The topology
# gives each variant its own job ID (set: name), count, port and image tag;
# the router (router.json) sends NAME.app.ZONE to the port of the job NAME
# on every node, so the port is fixed per variant rather than dynamic.
# The task is a stand-in for the application's container: a web server
# answering with the variant's name and image, which the scenario tests
# read back.
variable "port" {
  type        = number
  description = "the port the variant answers on, on every node that runs it"
  default     = 9001
}

variable "image" {
  type        = string
  description = "the application's image and tag"
  default     = "clickcount:latest"
}

job "clickcount" {
  type = "service"

  update {
    max_parallel      = 1
    health_check      = "task_states"
    min_healthy_time  = "2s"
    healthy_deadline  = "1m"
    progress_deadline = "2m"
    auto_revert       = false
  }

  group "app" {
    count = 1

    network {
      port "http" {
        static = var.port
      }
    }

    restart {
      attempts = 1
      interval = "1m"
      delay    = "1s"
      mode     = "fail"
    }

    task "app" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args = ["-c", <<-SH
          mkdir -p "$NOMAD_TASK_DIR/www" &&
          echo "$NOMAD_JOB_NAME ${var.image} on $(hostname)" >"$NOMAD_TASK_DIR/www/index.html" &&
          exec busybox httpd -f -p "$NOMAD_PORT_http" -h "$NOMAD_TASK_DIR/www"
          SH
        ]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
