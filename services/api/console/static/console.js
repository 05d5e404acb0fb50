/* lowkey admin console: keep each weight's slider and number field in step.
   The number field carries the value (and works without JavaScript). */
document.addEventListener("input", function (event) {
  var el = event.target;
  if (el.dataset && el.dataset.sync) {
    var number = document.getElementById(el.dataset.sync);
    if (number) number.value = el.value;
  } else if (el.type === "number") {
    var range = document.querySelector('[data-sync="' + el.id + '"]');
    if (range && el.value !== "") range.value = el.value;
  }
});
