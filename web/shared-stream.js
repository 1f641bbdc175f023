// shared-stream.js -- one SSE stream per browser, however many tabs show the page.
//
// Why: on plain HTTP/1.1 a browser opens at most 6 connections to a host, and an SSE
// stream holds one for as long as its tab is open. With a stream per tab, 6 tabs leave no
// connection for anything else and a 7th tab cannot even load the page.
//
// How: the tabs of one origin elect one of them with the Web Locks API. That tab lets
// htmx's hx-sse connect, exactly as the markup declares, and posts every message it gets
// to the other tabs over a BroadcastChannel. They apply each message as hx-sse would: an
// unnamed message is swapped into the element's hx-target with its hx-swap, a named one
// is dispatched as a DOM event on the element. When the holding tab closes (or is
// discarded) the browser releases its lock, the next tab in line gets it and connects,
// resuming after the last event id any tab saw, so nothing is missed.
//
// Without Web Locks or BroadcastChannel this script does nothing, and every tab connects
// on its own through the markup alone.
(() => {
  'use strict';
  if (!window.htmx || !navigator.locks || !window.BroadcastChannel) return;

  const STREAM = '[hx-sse\\:connect]';
  let holding = false; // this tab holds the lock and the stream
  let lastId = '';     // the newest event id this tab has seen, from its stream or a peer
  let namesAtLast = new Set(); // the messages of lastId seen: each id has two (see index.html)

  // The holder streams for every tab, so it must not pause while it is in the background.
  htmx.config.sse = { ...htmx.config.sse, pauseOnBackground: false };

  // htmx connects each stream element when it processes it; hold that back, so only the
  // elected tab connects, and only through connect() below.
  document.addEventListener('htmx:config:request', (e) => {
    const ctx = e.detail.ctx;
    if (ctx.sourceElement?.matches?.(STREAM) && !ctx.sharedStream) e.preventDefault();
  });

  function noteId(id, event) {
    if (!id) return;
    if (id !== lastId) namesAtLast = new Set();
    lastId = id;
    namesAtLast.add(event);
  }

  // While one holder hands over to the next, a peer can get an event from both. Ids are
  // "<epoch>-<seq>": a message is old when it has lastId's epoch and an older seq, or
  // when it repeats one of lastId's messages. Another epoch is a new stream.
  function isNew({ event, id }) {
    const [epoch, seq] = (id || '').split('-');
    const [lastEpoch, lastSeq] = lastId.split('-');
    if (!id || epoch !== lastEpoch) return true;
    return Number(seq) > Number(lastSeq) || (seq === lastSeq && !namesAtLast.has(event));
  }

  // The stream's URL with the id to resume after: a query parameter, because hx-sse sets
  // the Last-Event-ID header only for ids it received itself.
  function resumeUrl(elt) {
    const url = new URL(elt.getAttribute('hx-sse:connect'), location.href);
    if (lastId) url.searchParams.set('lastEventId', lastId);
    return url.origin === location.origin ? url.pathname + url.search : url.href;
  }

  // hx-sse reconnects a stream that was up, but not one whose first request failed (a
  // gateway warming up or at its limit answers 503): this tab holds the lock for every
  // tab, so it tries again itself, after about the advised delay, with jitter.
  function connect(elt, channel) {
    holding = true;
    elt.dataset.sharedStream = 'holder';
    const open = () => htmx.ajax('GET', resumeUrl(elt), { source: elt, sharedStream: true });
    const retry = () => setTimeout(open, 2000 * (0.75 + Math.random() / 2));
    elt.addEventListener('htmx:sse:before:message', (e) => {
      const { event, data, id } = e.detail.message;
      noteId(id, event);
      channel.postMessage({ event, data, id });
    });
    elt.addEventListener('htmx:before:swap', (e) => {
      if (e.detail.ctx.response?.status >= 400) e.preventDefault(); // not the error's body
    });
    elt.addEventListener('htmx:after:request', (e) => {
      if (e.detail.ctx.response?.status >= 400) retry();
    });
    elt.addEventListener('htmx:error', retry);
    open();
  }

  // A message the holder passed on, applied here as hx-sse applies it in the holder's tab.
  function apply(elt, { event, data, id }) {
    if (!isNew({ event, id })) return;
    noteId(id, event);
    if (event) {
      htmx.trigger(elt, event, { data, id });
      return;
    }
    const swap = (elt.getAttribute('hx-swap') || htmx.config.defaultSwap) + ' swapEmpty:false';
    htmx.swap({ sourceElement: elt, target: elt.getAttribute('hx-target') ?? elt, swap, text: data });
  }

  function share(elt) {
    const name = `rn-stream ${new URL(elt.getAttribute('hx-sse:connect'), location.href)}`;
    const channel = new BroadcastChannel(name);
    // Until elected, start from the event the page was rendered with.
    noteId(elt.querySelector('[data-event-id]')?.dataset.eventId);
    elt.dataset.sharedStream = 'follower';
    channel.onmessage = (e) => { if (!holding) apply(elt, e.data); };
    // The lock is held until the tab goes away: the callback's promise never settles.
    navigator.locks.request(name, () => new Promise(() => connect(elt, channel)));
  }

  function start() {
    document.querySelectorAll(STREAM).forEach(share);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
