// The merchant page's service worker: keeps the till page and its script loadable
// while the node is down. Network first (the node's page is the truth), the cache
// only when the network fails. Device API calls are never touched: the page itself
// decides what to do when they fail.
"use strict";
const cacheName = "sturmfest-merchant-v1";
const page = self.location.pathname.replace(/merchant-sw\.js$/, "merchant");
const script = "__MERCHANT_JS__";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(cacheName).then((cache) => cache.addAll([page, script])).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("sturmfest-merchant-") && n !== cacheName).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname !== page && url.pathname !== script) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(cacheName).then((cache) => cache.put(url.pathname === page ? page : script, copy));
        }
        return response;
      })
      .catch(() => caches.match(url.pathname === page ? page : script).then((hit) => hit || Response.error())),
  );
});
