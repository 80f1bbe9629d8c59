/**
 * nginx doing Palisade's two hops with mTLS. Two-process layout: two instances, one per
 * hop, like two sidecars. Single-process layout: one instance holding both server blocks,
 * like one sidecar whose outbound calls its own inbound. `worker_processes` is 1 unless
 * asked (the same count as Palisade's event loops per sidecar). Configs, pid, logs and
 * temp paths live in a temp dir; `daemon off` keeps the master our child.
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

function common(dir, workers = 1) {
  // Running as root, workers would switch to `nobody` and lose the temp dir; stay as we are.
  const user = process.getuid?.() === 0 ? "user root;\n" : "";
  return `${user}daemon off;
master_process on;
worker_processes ${workers};
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

function outboundBlocks({ port, upstreamPort, cert, key, ca, sslName }) {
  return `  upstream callee {
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
`;
}

function inboundBlocks({ port, appPort, cert, key, ca }) {
  return `  upstream app {
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
`;
}

export function outboundConfig(dir, hop, workers = 1) {
  return `${common(dir, workers)}http {\n${httpCommon(dir)}${outboundBlocks(hop)}}\n`;
}

export function inboundConfig(dir, hop, workers = 1) {
  return `${common(dir, workers)}http {\n${httpCommon(dir)}${inboundBlocks(hop)}}\n`;
}

/** Both hops in one instance: `outbound.upstreamPort` is `inbound.port`. */
export function singleConfig(dir, { outbound, inbound }, workers = 1) {
  return `${common(dir, workers)}http {\n${httpCommon(dir)}${outboundBlocks(outbound)}${inboundBlocks(inbound)}}\n`;
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
