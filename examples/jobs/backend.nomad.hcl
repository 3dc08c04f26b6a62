# The back end of examples/cluster-scripts.yaml: a service job of `count`
# allocations on the workers, each on a port Nomad picks. Nothing outside
# the cluster reaches it. The task stands in for the application's
# container: a web server answering a small JSON document.
job "backend" {
  type = "service"

  update {
    max_parallel      = 1
    health_check      = "task_states"
    min_healthy_time  = "2s"
    healthy_deadline  = "1m"
    progress_deadline = "2m"
    auto_revert       = false
  }

  group "api" {
    count = 2

    network {
      port "http" {}
    }

    task "api" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args = ["-c", <<-SH
          mkdir -p "$NOMAD_TASK_DIR/www" &&
          echo "{\"service\": \"$NOMAD_JOB_NAME\", \"alloc\": \"$NOMAD_ALLOC_ID\"}" >"$NOMAD_TASK_DIR/www/index.html" &&
          exec busybox httpd -f -p "$NOMAD_PORT_http" -h "$NOMAD_TASK_DIR/www"
          SH
        ]
      }

      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
