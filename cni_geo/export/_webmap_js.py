"""The page's own CSS and JavaScript (written for cni-geo; no third-party code).

The script decodes the one shared copy of the geometry (see ``_webmap_data``), builds each
choropleth layer lazily with ``L.geoJSON`` and a style function by class, and adds small controls
of our own: legends tied to their layers, search by name or code, fullscreen, basemap choice, an
"About" panel with sources and licences.
"""

from __future__ import annotations

CSS = """
.cni-title{position:absolute;top:10px;left:50%;transform:translateX(-50%);z-index:1000;
 background:rgba(255,255,255,.92);padding:4px 12px;border-radius:4px;font:600 16px/1.3 system-ui,
 sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3);pointer-events:none;max-width:60%;text-align:center}
.leaflet-control-layers-expanded{max-height:calc(100vh - 330px);overflow-y:auto}
.cni-box{background:rgba(255,255,255,.94);padding:6px 8px;border-radius:4px;
 box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px/1.35 system-ui,sans-serif}
.cni-legend h4{margin:0 0 4px;font-size:12px}
.cni-legend .row{display:flex;align-items:center;gap:6px}
.cni-legend .sw{width:16px;height:12px;border:1px solid #777;display:inline-block}
.cni-legend .sw.outline{background:#fff;border:3px solid #000;box-shadow:inset 0 0 0 1px #fff}
.cni-legend .sw.dot{border-radius:50%;width:10px;height:10px}
.cni-legend+.cni-legend{margin-top:6px}
.cni-search input{width:190px;font:12px system-ui,sans-serif;padding:3px}
.cni-search ul{list-style:none;margin:2px 0 0;padding:0;max-height:180px;overflow:auto}
.cni-search li{cursor:pointer;padding:2px 3px}.cni-search li:hover{background:#eee}
.cni-button{width:30px;height:30px;line-height:30px;text-align:center;cursor:pointer;
 font:18px/30px system-ui,sans-serif;background:#fff;display:block;color:#000;text-decoration:none}
.cni-about{max-width:320px}.cni-about .body{display:none;margin-top:4px}
.cni-about.open .body{display:block}.cni-about summary,.cni-about .toggle{cursor:pointer;font-weight:600}
.cni-tip table{border-collapse:collapse}.cni-tip th{text-align:left;padding-right:8px;font-weight:600}
.cni-tip .name{font-weight:700;font-size:13px}
.cni-full{position:fixed!important;left:0!important;top:0!important;width:100vw!important;
 height:100vh!important;z-index:9999}
.cni-pin{display:block;width:12px;height:12px;border-radius:50%;border:2px solid #fff;
 box-shadow:0 0 2px rgba(0,0,0,.8)}
.cni-cluster{border-radius:50%;color:#fff;font:600 12px/30px system-ui,sans-serif;
 text-align:center;width:30px;height:30px;border:2px solid #fff;box-shadow:0 0 3px rgba(0,0,0,.6);
 text-shadow:0 0 2px #000}
"""

# Placeholders: __MAP__ (the folium map variable), __DATAID__ (the JSON element's id).
JS = r"""
(function(){
var map = __MAP__;
if (map.options.maxZoom === undefined) map.options.maxZoom = 19;  // markercluster needs it
var D = JSON.parse(document.getElementById("__DATAID__").textContent);
var P = D.props, n = D.n, G = D.geom;
function esc(s){ return String(s).replace(/[&<>"']/g, function(c){
  return {"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]; }); }
function fmt(v){ return (v === null || v === undefined) ? "no data" : v.toLocaleString("en-GB"); }

// one decoded copy of the geometry, shared by every layer
var scale = Math.pow(10, G.precision), c = G.coords, x = 0, y = 0;
var xy = new Float64Array(c.length);
for (var k = 0; k < c.length; k += 2){ x += c[k]; y += c[k+1]; xy[k] = x/scale; xy[k+1] = y/scale; }
var features = new Array(n), boxes = new Array(n);
for (var f = 0; f < n; f++){
  var polys = [], b = [90, 180, -90, -180];
  for (var p = G.feats[f]; p < G.feats[f+1]; p++){
    var rings = [];
    for (var r = G.polys[p]; r < G.polys[p+1]; r++){
      var ring = [];
      for (var v = G.rings[r]; v < G.rings[r+1]; v++){
        var lon = xy[2*v], lat = xy[2*v+1]; ring.push([lon, lat]);
        if (lat < b[0]) b[0] = lat; if (lon < b[1]) b[1] = lon;
        if (lat > b[2]) b[2] = lat; if (lon > b[3]) b[3] = lon;
      }
      rings.push(ring);
    }
    polys.push(rings);
  }
  features[f] = {type: "Feature", properties: {i: f},
                 geometry: {type: "MultiPolygon", coordinates: polys}};
  boxes[f] = [[b[0], b[1]], [b[2], b[3]]];
}
var renderer = D.renderer === "canvas" ? L.canvas({padding: 0.3}) : L.svg();

function tipHtml(i){
  var L_ = D.labels, name = D.names[i], h = '<div class="cni-tip">';
  h += '<div class="name">' + esc(name === null ? D.codes[i] : name) + '</div><table>';
  h += '<tr><th>Code</th><td>' + esc(D.codes[i]) + '</td></tr>';
  h += '<tr><th>' + esc(L_.score) + '</th><td>' + esc(fmt(P.score[i])) + '</td></tr>';
  h += '<tr><th>' + esc(L_.rank) + '</th><td>' + esc(fmt(P.rank[i])) + ' of ' +
       esc(fmt(D.n_ranked)) + '</td></tr>';
  h += '<tr><th>' + esc(L_.decile) + '</th><td>' + esc(fmt(P.decile[i])) + '</td></tr>';
  for (var d = 0; d < L_.domains.length; d++){
    h += '<tr><th>' + esc(L_.domains[d]) + ' rank</th><td>' + esc(fmt(P.domain_ranks[d][i])) +
         '</td></tr>';
  }
  if (P.left_behind){
    var lb = P.left_behind[i];
    h += '<tr><th>' + esc(L_.left_behind) + '</th><td>' +
         (lb === 1 ? 'Yes' : (lb === 0 ? 'No' : 'no data')) + '</td></tr>';
  }
  return h + '</table></div>';
}

var legendBox = L.control({position: "bottomright"});
legendBox.onAdd = function(){
  var div = L.DomUtil.create("div", "cni-box cni-legends");
  L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);
  return div;
};
legendBox.addTo(map);
function legend(id, title, rows){
  var div = L.DomUtil.create("div", "cni-legend", legendBox.getContainer());
  div.setAttribute("data-layer", id); div.style.display = "none";
  var h = "<h4>" + esc(title) + "</h4>";
  rows.forEach(function(r){
    h += '<div class="row"><span class="sw ' + (r[2] || "") + '" style="background:' + r[1] +
         '"></span>' + esc(r[0]) + '</div>';
  });
  div.innerHTML = h; return div;
}

var LazyLayer = L.LayerGroup.extend({
  initialize: function(build){ L.LayerGroup.prototype.initialize.call(this); this._build = build; },
  onAdd: function(m){
    if (this._build){ this.addLayer(this._build()); this._build = null; }
    L.LayerGroup.prototype.onAdd.call(this, m);
  }
});

var baseLayers = {}, overlays = {}, legends = [];
function bind(layer, leg){ layer._cniLegend = leg; legends.push(leg); }
D.layers.forEach(function(spec){
  var colors = spec.colors, nodata = spec.nodata[1], cls = spec.classes;
  var style = function(feat){
    var k = cls[feat.properties.i];
    return {fillColor: k < 0 ? nodata : colors[k], fillOpacity: 0.85, color: "#ffffff",
            weight: 0.5, opacity: 0.9, className: "cni-area cni-area-" + spec.id};
  };
  var layer = new LazyLayer(function(){
    var gj = L.geoJSON(features, {renderer: renderer, style: style,
      onEachFeature: function(feat, lyr){
        lyr.bindTooltip(function(){ return tipHtml(feat.properties.i); }, {sticky: true});
        lyr.on("mouseover", function(){ lyr.setStyle({weight: 2.5, color: "#000000"});
                                          if (lyr.bringToFront) lyr.bringToFront(); });
        lyr.on("mouseout", function(){ gj.resetStyle(lyr); });
      }});
    return gj;
  });
  var rows = spec.labels.map(function(l, j){ return [l, colors[j]]; });
  rows.push([spec.nodata[0], nodata]);
  bind(layer, legend(spec.id, spec.title + " (decile)", rows));
  baseLayers[esc(spec.title)] = layer;
});

if (P.left_behind && P.left_behind.indexOf(1) >= 0){
  var lbFeatures = features.filter(function(feat){ return P.left_behind[feat.properties.i] === 1; });
  var lbLayer = new LazyLayer(function(){
    var opts = function(color, weight, cname){ return {renderer: renderer, interactive: false,
      style: function(){ return {fill: false, color: color, weight: weight, opacity: 1,
                                 className: cname}; }}; };
    return L.layerGroup([L.geoJSON(lbFeatures, opts("#000000", 4, "cni-lb cni-lb-outer")),
                         L.geoJSON(lbFeatures, opts("#ffffff", 1.5, "cni-lb cni-lb-inner"))]);
  });
  bind(lbLayer, legend("left_behind", D.labels.left_behind,
                       [[D.labels.left_behind + " area", "#ffffff", "outline"]]));
  overlays[esc(D.labels.left_behind)] = lbLayer;
}

if (D.assets){
  var A = D.assets;
  A.categories.forEach(function(cat, ci){
    var color = A.colors[ci];
    var layer = new LazyLayer(function(){
      var group = L.markerClusterGroup({showCoverageOnHover: false, maxClusterRadius: 50,
        iconCreateFunction: function(cl){
          return L.divIcon({html: '<div class="cni-cluster" style="background:' + color + '">' +
                            cl.getChildCount() + '</div>', className: "", iconSize: [30, 30]});
        }});
      var icon = L.divIcon({html: '<span class="cni-pin" style="background:' + color + '"></span>',
                            className: "", iconSize: [12, 12]});
      for (var j = 0; j < A.cat.length; j++){
        if (A.cat[j] !== ci) continue;
        var mk = L.marker([A.xy[2*j+1]/scale, A.xy[2*j]/scale], {icon: icon});
        var nm = A.names[j];
        mk.bindTooltip((nm === null ? "" : "<b>" + esc(nm) + "</b><br>") + esc(cat));
        group.addLayer(mk);
      }
      return group;
    });
    bind(layer, legend("asset:" + cat, "Assets", [[cat, color, "dot"]]));
    overlays["Assets: " + esc(cat)] = layer;
  });
}

function showLegend(layer, on){ if (layer._cniLegend) layer._cniLegend.style.display = on ? "" : "none"; }
map.on("baselayerchange", function(e){
  Object.keys(baseLayers).forEach(function(k){ showLegend(baseLayers[k], baseLayers[k] === e.layer); });
});
map.on("overlayadd", function(e){ showLegend(e.layer, true); });
map.on("overlayremove", function(e){ showLegend(e.layer, false); });
var first = baseLayers[Object.keys(baseLayers)[0]];
first.addTo(map); showLegend(first, true);
if (lbLayer){ lbLayer.addTo(map); showLegend(lbLayer, true); }
L.control.layers(baseLayers, overlays, {collapsed: false, position: "topright"}).addTo(map);
map.fitBounds(D.bounds);

// basemap choice (tiles need the network)
var tiles = null;
if (D.basemaps.length > 1){
  var bm = L.control({position: "topleft"});
  bm.onAdd = function(){
    var div = L.DomUtil.create("div", "cni-box cni-basemap");
    var h = '<label>Basemap <select>';
    D.basemaps.forEach(function(b, j){ h += '<option value="' + j + '"' +
      (b.name === D.basemap ? " selected" : "") + '>' + esc(b.name) + '</option>'; });
    div.innerHTML = h + '</select></label>';
    L.DomEvent.disableClickPropagation(div);
    div.querySelector("select").addEventListener("change", function(ev){ setBasemap(+ev.target.value); });
    return div;
  };
  bm.addTo(map);
}
function setBasemap(j){
  if (tiles){ map.removeLayer(tiles); tiles = null; }
  var b = D.basemaps[j];
  if (b && b.url){ tiles = L.tileLayer(b.url, {attribution: b.attribution, maxZoom: 19}).addTo(map);
                   tiles.bringToBack(); }
}
D.basemaps.forEach(function(b, j){ if (b.name === D.basemap) setBasemap(j); });

// search by area name or code
var search = L.control({position: "topleft"});
search.onAdd = function(){
  var div = L.DomUtil.create("div", "cni-box cni-search");
  div.innerHTML = '<input type="search" placeholder="Search area name or code" ' +
                  'aria-label="Search area name or code"><ul></ul>';
  L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);
  var input = div.querySelector("input"), list = div.querySelector("ul");
  var keys = D.codes.map(function(code, i){
    return (code + " " + (D.names[i] === null ? "" : D.names[i])).toLowerCase(); });
  input.addEventListener("input", function(){
    var q = input.value.trim().toLowerCase(), h = "", found = 0;
    if (q.length >= 2){
      for (var i = 0; i < n && found < 8; i++){
        if (keys[i].indexOf(q) >= 0){ found++;
          h += '<li data-i="' + i + '">' + esc(D.names[i] === null ? D.codes[i] : D.names[i]) +
               ' <small>' + esc(D.codes[i]) + '</small></li>'; }
      }
      if (!found) h = "<li>No match</li>";
    }
    list.innerHTML = h;
  });
  list.addEventListener("click", function(ev){
    var li = ev.target.closest("li"); if (!li || !li.hasAttribute("data-i")) return;
    var i = +li.getAttribute("data-i"), bb = L.latLngBounds(boxes[i]);
    map.fitBounds(bb, {maxZoom: 15});
    L.popup().setLatLng(bb.getCenter()).setContent(tipHtml(i)).openOn(map);
    list.innerHTML = "";
  });
  return div;
};
search.addTo(map);

// fullscreen: the Fullscreen API where allowed, else the map fills the window
var fs = L.control({position: "topleft"});
fs.onAdd = function(){
  var div = L.DomUtil.create("div", "leaflet-bar cni-fullscreen");
  var a = L.DomUtil.create("a", "cni-button", div);
  a.href = "#"; a.title = "Full screen"; a.setAttribute("role", "button"); a.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" style="vertical-align:middle">' +
    '<path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5" fill="none" stroke="#333" stroke-width="2"/></svg>';
  L.DomEvent.on(a, "click", function(ev){
    L.DomEvent.preventDefault(ev);
    var el = map.getContainer();
    if (document.fullscreenElement){ document.exitFullscreen(); }
    else if (el.requestFullscreen && document.fullscreenEnabled){ el.requestFullscreen(); }
    else { L.DomUtil.hasClass(el, "cni-full") ? L.DomUtil.removeClass(el, "cni-full")
                                              : L.DomUtil.addClass(el, "cni-full"); }
    setTimeout(function(){ map.invalidateSize(); }, 200);
  });
  return div;
};
fs.addTo(map);

// title, about panel (sources, attribution, licences) and attribution line
var title = document.createElement("div");
title.className = "cni-title"; title.textContent = D.title; map.getContainer().appendChild(title);
var about = L.control({position: "bottomleft"});
about.onAdd = function(){
  var div = L.DomUtil.create("div", "cni-box cni-about");
  div.innerHTML = '<div class="toggle" role="button" tabindex="0">About this map</div>' +
                  '<div class="body">' + D.about_html + '</div>';
  L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);
  div.querySelector(".toggle").addEventListener("click", function(){
    L.DomUtil.hasClass(div, "open") ? L.DomUtil.removeClass(div, "open") : L.DomUtil.addClass(div, "open");
  });
  return div;
};
about.addTo(map);
if (D.attribution_html) map.attributionControl.addAttribution(D.attribution_html);
window.cniMap = {map: map, data: D, baseLayers: baseLayers, overlays: overlays};
})();
"""
