// Reads an .ics on stdin with ical.js (Thunderbird's parser) and prints JSON:
// each VEVENT's fields and the UTC starts of its occurrences in a window.
// Usage: node expand.mjs WINDOW_START WINDOW_END   (RFC 3339 UTC instants)
//        node expand.mjs --batch   (stdin: a JSON array of {ics, start, end};
//                                   stdout: a JSON array of readings, in order;
//                                   one node start for many feeds)
import ICAL from "ical.js";

const MAX_OCCURRENCES = 5000; // a runaway rule must fail the test, not hang it

const utc = (time) => new Date(time.toUnixTime() * 1000).toISOString().replace(".000Z", "Z");
const text = (component, name) => {
  const value = component.getFirstPropertyValue(name);
  return value === null ? null : String(value);
};

// ical.js knows no type for X- properties and hands back their raw TEXT.
const unescapeText = (raw) =>
  raw === null ? null : raw.replace(/\\([\\;,nN])/g, (_, c) => (c === "n" || c === "N" ? "\n" : c));

function read(ics, windowStart, windowEnd) {
  const root = new ICAL.Component(ICAL.parse(ics));
  // ical.js silently treats a TZID without a VTIMEZONE as floating time, so
  // report every such TZID instead of letting the instants drift.
  const missingTzids = new Set();
  const events = {};
  for (const vevent of root.getAllSubcomponents("vevent")) {
    for (const name of ["dtstart", "dtend", "exdate"]) {
      for (const prop of vevent.getAllProperties(name)) {
        const tzid = prop.getParameter("tzid");
        if (tzid && !root.getTimeZoneByID(tzid)) missingTzids.add(tzid);
      }
    }
    const event = new ICAL.Event(vevent);
    const occurrences = [];
    const iterator = event.iterator();
    for (let next = iterator.next(), n = 0; next && n < MAX_OCCURRENCES; next = iterator.next(), n++) {
      const start = next.toUnixTime();
      if (start >= windowEnd) break;
      if (start >= windowStart) occurrences.push(utc(next));
    }
    events[event.uid] = {
      summary: event.summary ?? null,
      description: event.description ?? null,
      location: event.location ?? null,
      url: text(vevent, "url"),
      status: text(vevent, "status"),
      transp: text(vevent, "transp"),
      sequence: event.sequence,
      occurrences,
    };
  }
  return {
    calendar_name: unescapeText(text(root, "x-wr-calname")),
    events,
    missing_tzids: [...missingTzids].sort(),
  };
}

const instant = (s) => Date.parse(s) / 1000;
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = Buffer.concat(chunks).toString("utf8");

if (process.argv[2] === "--batch") {
  const readings = JSON.parse(input).map(({ ics, start, end }) => read(ics, instant(start), instant(end)));
  process.stdout.write(JSON.stringify(readings));
} else {
  const [windowStart, windowEnd] = process.argv.slice(2).map(instant);
  if (Number.isNaN(windowStart) || Number.isNaN(windowEnd)) {
    console.error("usage: node expand.mjs WINDOW_START WINDOW_END | --batch");
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(read(input, windowStart, windowEnd)));
}
