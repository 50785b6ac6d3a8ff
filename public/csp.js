// The page's connect-src, set before anything else runs: its own origin plus the origins of
// the binary caches saved in this browser (default https://cache.nixos.org). A policy can be
// added but never relaxed while the page lives, so a new cache takes effect after a reload.
(function () {
  var origins = [];
  try {
    var list = JSON.parse(localStorage.getItem('disk-image-studio:caches') || 'null');
    if (!Array.isArray(list)) list = [{ url: 'https://cache.nixos.org' }];
    for (var i = 0; i < list.length; i++) {
      try {
        var u = new URL(String(list[i] && list[i].url));
        if ((u.protocol === 'https:' || u.protocol === 'http:') && origins.indexOf(u.origin) < 0) origins.push(u.origin);
      } catch (e) {}
    }
  } catch (e) {
    origins = ['https://cache.nixos.org'];
  }
  var meta = document.createElement('meta');
  meta.httpEquiv = 'Content-Security-Policy';
  meta.content = "connect-src 'self' " + origins.join(' ');
  meta.setAttribute('data-cache-origins', JSON.stringify(origins));
  document.head.appendChild(meta);
})();
