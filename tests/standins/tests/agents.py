"""Agent configurations as the tests write them, in the documented JSON form."""


def nomad_server(ip, region="europe", expect=3, join=(), key=None, acl=False, authoritative=None,
                 replication_token=None, extra=None):
    cfg = {"region": region, "datacenter": "dc-a", "data_dir": "/var/lib/nomad", "bind_addr": ip, "name": ip,
           "advertise": {"http": ip, "rpc": ip, "serf": ip}, "log_level": "DEBUG",
           "server": {"enabled": True, "bootstrap_expect": expect,
                      "server_join": {"retry_join": list(join), "retry_interval": "1s"},
                      "heartbeat_grace": "2s", "min_heartbeat_ttl": "2s"}}
    if key:
        cfg["server"]["encrypt"] = key
    if authoritative:
        cfg["server"]["authoritative_region"] = authoritative
    if acl:
        cfg["acl"] = {"enabled": True}
        if replication_token:
            cfg["acl"]["replication_token"] = replication_token
    if extra:
        for k, v in extra.items():
            cfg[k] = dict(cfg.get(k) or {}, **v) if isinstance(v, dict) else v
    return cfg


def nomad_client(ip, servers, region="europe", dc="dc-a", raw_exec=True, consul=True):
    cfg = {"region": region, "datacenter": dc, "data_dir": "/var/lib/nomad", "bind_addr": ip, "name": "client-" + ip,
           "advertise": {"http": ip, "rpc": ip, "serf": ip}, "log_level": "DEBUG",
           "client": {"enabled": True, "servers": ["%s:4647" % s for s in servers]},
           "consul": {"address": "127.0.0.1:8500"}}
    if raw_exec:
        cfg["plugin"] = [{"raw_exec": [{"config": [{"enabled": True}]}]}]
    return cfg


def consul_agent(ip, dc="europe", server=True, expect=1, join=(), key=None, acl_token=None):
    cfg = {"datacenter": dc, "data_dir": "/var/lib/consul", "server": server, "bind_addr": ip,
           "advertise_addr": ip, "client_addr": "127.0.0.1 " + ip, "node_name": "node-" + ip.replace(".", "-"),
           "retry_join": list(join), "retry_interval": "1s", "ports": {"http": 8500, "https": -1}}
    if server:
        cfg["bootstrap_expect"] = expect
    if key:
        cfg["encrypt"] = key
    if acl_token:
        cfg["acl"] = {"enabled": True, "default_policy": "deny", "enable_token_persistence": True,
                      "tokens": {"initial_management": acl_token}}
    return cfg
