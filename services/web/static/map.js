/* The map of a page: stations, the vehicle's last position and recent track, or every
 * in-transit vehicle. A blank background unless the deployment names a tile server. */
(function () {
  "use strict";
  function draw(el) {
    if (!window.L) return;
    var data;
    try { data = JSON.parse(el.getAttribute("data-map") || "{}"); } catch (e) { return; }
    var map = L.map(el, { attributionControl: !!data.attribution, zoomControl: true });
    if (data.tiles) {
      L.tileLayer(data.tiles, { attribution: data.attribution || "", maxZoom: 18 }).addTo(map);
    }
    var points = [];
    // Station names stay on screen on a waybill's map (its few route stations); on the
    // fleet map they show on hover, so the vehicles' plates stay readable.
    var stationLabels = !data.vehicles;
    (data.stations || []).forEach(function (s) {
      var m = L.circleMarker([s.lat, s.lon], { radius: 6, color: "#1f6feb", weight: 2, fillOpacity: 0.6 }).addTo(map);
      m.bindTooltip(s.code + (s.name ? " " + s.name : ""), { permanent: stationLabels, direction: "right", className: "map-label" });
      if (stationLabels) points.push([s.lat, s.lon]);
    });
    if (data.stations && data.stations.length > 1 && !data.vehicles) {
      L.polyline(data.stations.map(function (s) { return [s.lat, s.lon]; }), { color: "#8899aa", dashArray: "4 6", weight: 2 }).addTo(map);
    }
    if (data.track && data.track.length) {
      L.polyline(data.track, { color: "#d9480f", weight: 3 }).addTo(map);
      points = points.concat(data.track);
    }
    if (data.position) {
      L.circleMarker([data.position.lat, data.position.lon], { radius: 9, color: "#d9480f", fillOpacity: 0.9 })
        .addTo(map).bindTooltip(data.position.label || "", { permanent: !!data.position.label, direction: "top", className: "map-label" });
      points.push([data.position.lat, data.position.lon]);
    }
    (data.vehicles || []).forEach(function (v) {
      L.circleMarker([v.lat, v.lon], { radius: 8, color: v.stale ? "#868e96" : "#d9480f", fillOpacity: 0.9 })
        .addTo(map).bindTooltip(v.label, { permanent: true, direction: "top", className: "map-label" });
      points.push([v.lat, v.lon]);
    });
    if (!points.length) {
      (data.stations || []).forEach(function (s) { points.push([s.lat, s.lon]); });
    }
    if (points.length > 1) map.fitBounds(points, { padding: [30, 30], maxZoom: 11 });
    else if (points.length === 1) map.setView(points[0], 9);
    else map.setView([31.2, 121.4], 6);
    el.setAttribute("data-ready", "1");
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-map]").forEach(draw);
  });
})();
