/* page.js - while background work runs, the settings page refreshes its
   progress card in place (the page works without it: a reload shows the
   same).  Allowed by its sha256 in the Content-Security-Policy. */
(function () {
	var card = document.getElementById("job");
	if (!card || card.getAttribute("data-state") !== "running")
		return;
	var url = card.getAttribute("data-poll");
	function tick() {
		fetch(url, { credentials: "same-origin", cache: "no-store" })
		.then(function (r) { return r.ok ? r.text() : null; })
		.then(function (text) {
			if (text === null)
				return;
			var box = document.createElement("div");
			box.innerHTML = text;
			var next = box.firstElementChild;
			if (!next || next.id !== "job")
				return;
			card.replaceWith(next);
			card = next;
			if (next.getAttribute("data-state") === "running")
				setTimeout(tick, 3000);
		})
		.catch(function () { setTimeout(tick, 10000); });
	}
	setTimeout(tick, 3000);
})();
