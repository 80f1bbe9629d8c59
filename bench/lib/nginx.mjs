/**
 * nginx doing Palisade's two hops with mTLS, as two instances so that each hop gets its own
 * process like a sidecar does: `worker_processes 1` per instance (one master, one worker),
 * which matches Palisade's one event loop per sidecar on this 2-core box. Configs, pid,
 * logs and temp paths live in a temp dir; `daemon off` keeps the master our child.
 *
 *   outbound: plain :OUT → proxy_pass https (mTLS, client cert, verify, SNI), keepalive pool
 *   inbound:  ssl :IN, ssl_verify_client on → proxy_pass http app, keepalive pool
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startProcess, waitForPort } from "./processes.mjs";

export const NGINX = process.env.NGINX ?? "/usr/sbin/nginx";

export function nginxAvailable() {
  return existsSync(NGINX);
}

function common(dir) {
  // Running as root, workers would switch to `nobody` and lose the temp dir; stay as we are.
  const user = process.getuid?.() === 0 ? "user root;\n" : "";
  return `${user}daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
`;
}

function httpCommon(dir) {
  return `  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  # Enough buffer for the 64 KiB body without touching disk.
  proxy_buffer_size 16k;
  proxy_buffers 16 8k;
  proxy_max_temp_file_size 0;
`;
}

export function outboundConfig(dir, { port, upstreamPort, cert, key, ca, sslName }) {
  return `${common(dir)}http {
${httpCommon(dir)}  upstream callee {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port} default_server;
    location / {
      proxy_pass https://callee;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_certificate ${cert};
      proxy_ssl_certificate_key ${key};
      proxy_ssl_trusted_certificate ${ca};
      proxy_ssl_verify on;
      proxy_ssl_verify_depth 2;
      proxy_ssl_name ${sslName};
      proxy_ssl_server_name on;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_session_reuse on;
    }
  }
}
`;
}

export function inboundConfig(dir, { port, appPort, cert, key, ca }) {
  return `${common(dir)}http {
${httpCommon(dir)}  upstream app {
    server 127.0.0.1:${appPort};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port} ssl default_server;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_client_certificate ${ca};
    ssl_verify_client on;
    ssl_verify_depth 2;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Starts one nginx instance from `config` in `dir`; resolves when `port` accepts. */
export async function startNginx(name, dir, config, port) {
  await mkdir(dir, { recursive: true });
  const file = join(dir, "nginx.conf");
  await writeFile(file, config);
  const proc = startProcess(name, NGINX, ["-p", dir, "-c", file, "-e", join(dir, "error.log")]);
  await waitForPort(port, { proc });
  return proc;
}
