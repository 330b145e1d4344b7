using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Ternion.Backends.Reports;

/// <summary>
/// The compile report as one self-contained page (`--report FILE.html`): a summary, a bar chart of
/// bytes before and after per ternary tensor (inline SVG), a per-layer table, every tensor with all
/// its report fields, the weights left dense and why, what each pass did and how long it took, and
/// the FlexAttention decisions with their reasons. No script, no external file or font.
/// </summary>
/// <remarks>
/// It renders the report's JSON, not the C# classes, so a field the report gains later (say a
/// "source" per ternary weight) shows up as one more column without a change here. The page is
/// XHTML (built with System.Xml.Linq), so it is well-formed by construction and any XML parser reads it.
/// </remarks>
public static partial class HtmlReport
{
    private static readonly XNamespace H = "http://www.w3.org/1999/xhtml";
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>A page for one compiled model: <paramref name="reportJson"/> is CompileReport.ToJson().</summary>
    public static string Render(string modelName, string reportJson) =>
        Page($"Ternion compile report: {modelName}", [Summary(null, [(modelName, Parse(reportJson))])], [(modelName, Parse(reportJson))]);

    /// <summary>A page for a compiled folder: one section per model (relative path, CompileReport.ToJson()).</summary>
    public static string RenderFolder(string folderName, IReadOnlyList<(string Path, string ReportJson)> models, IReadOnlyList<string> copied, IReadOnlyList<string> updated)
    {
        var parsed = models.Select(m => (m.Path, Parse(m.ReportJson))).ToList();
        var head = Summary(folderName, parsed);
        var files = new XElement(H + "p", $"Other files: {copied.Count} copied unchanged" + (copied.Count == 0 ? "" : $" ({string.Join(", ", copied)})")
            + (updated.Count == 0 ? "." : $"; updated for the compiled models: {string.Join(", ", updated)}."));
        return Page($"Ternion compile report: {folderName}", [head, files], parsed);
    }

    private static JsonObject Parse(string json) => JsonNode.Parse(json) as JsonObject ?? throw new ArgumentException("a compile report is a JSON object");

    private static string Page(string title, IEnumerable<XElement> top, IReadOnlyList<(string Name, JsonObject Report)> models)
    {
        var body = new XElement(H + "body", new XElement(H + "h1", title), top);
        for (int i = 0; i < models.Count; i++) body.Add(ModelSection($"m{i}", models[i].Name, models[i].Report, models.Count > 1));
        body.Add(new XElement(H + "p", new XAttribute("class", "foot"), "Written by ternion compile. Bytes are what the model occupies on disk (model file plus external data)."));
        var html = new XElement(H + "html", new XAttribute("lang", "en"),
            new XElement(H + "head",
                new XElement(H + "meta", new XAttribute("charset", "utf-8")),
                new XElement(H + "title", title),
                new XElement(H + "style", Css)),
            body);
        return "<!DOCTYPE html>\n" + html.ToString(SaveOptions.None) + "\n";
    }

    private static XElement Summary(string? folder, IReadOnlyList<(string Name, JsonObject Report)> models)
    {
        long before = models.Sum(m => Long(m.Report["bytesBefore"])), after = models.Sum(m => Long(m.Report["bytesAfter"]));
        var weights = models.SelectMany(m => Entries(m.Report, "ternaryWeights")).ToList();
        long elements = weights.Sum(Elements), packed = weights.Sum(w => Long(w["packedBytes"])), original = weights.Sum(w => Long(w["originalBytes"]));
        var targets = models.Select(m => Str(m.Report["target"])).Distinct().ToList();
        var dl = new XElement(H + "dl", new XAttribute("class", "summary"), new XAttribute("id", "summary"));
        void Item(string key, string term, string value) => dl.Add(new XElement(H + "dt", term), new XElement(H + "dd", new XAttribute("data-key", key), value));
        if (folder is not null) Item("models", "models", models.Count.ToString(Inv));
        Item("target", "target", string.Join(", ", targets));
        Item("bytes", "model bytes", $"{N(before)} -> {N(after)} ({Percent(before, after)})");
        Item("ternary", "ternary weights packed", $"{weights.Count} tensors, {N(elements)} weights, {N(original)} -> {N(packed)} bytes");
        Item("bits", "bits per ternary weight", Bits(packed, elements));
        Item("dense", "candidates left dense", models.Sum(m => Entries(m.Report, "rejected").Count()).ToString(Inv));
        Item("flex", "FlexAttention nodes", models.Sum(m => Entries(m.Report, "flexAttention").Count()).ToString(Inv));
        return dl;
    }

    private static XElement ModelSection(string id, string name, JsonObject report, bool titled)
    {
        var section = new XElement(H + "section", new XAttribute("id", id));
        if (titled)
        {
            section.Add(new XElement(H + "h2", name));
            section.Add(Summary(null, [(name, report)]).WithId($"{id}-summary"));
        }
        var weights = Entries(report, "ternaryWeights").ToList();

        section.Add(new XElement(H + "h3", "Bytes per ternary tensor, before and after"));
        section.Add(weights.Count == 0 ? new XElement(H + "p", "No ternary weight was packed.") : Chart(weights));

        section.Add(new XElement(H + "h3", "Per layer"));
        section.Add(LayerTable($"{id}-layers", weights));

        section.Add(new XElement(H + "h3", "Ternary tensors"));
        section.Add(EntryTable($"{id}-tensors", weights, extra: ("bits per weight", w => Bits(Long(w["packedBytes"]), Elements(w)))));

        section.Add(new XElement(H + "h3", "Left dense, and why"));
        section.Add(EntryTable($"{id}-rejected", Entries(report, "rejected").ToList()));

        section.Add(new XElement(H + "h3", "Passes"));
        section.Add(PassTable($"{id}-passes", Entries(report, "passes").ToList()));

        section.Add(new XElement(H + "h3", "FlexAttention decisions"));
        section.Add(EntryTable($"{id}-flex", Entries(report, "flexAttention").ToList()));

        // Fields this page does not know yet: shown as they are rather than dropped.
        var known = new HashSet<string> { "target", "ternaryWeights", "rejected", "flexAttention", "bytesBefore", "bytesAfter", "passes" };
        var other = report.Where(p => !known.Contains(p.Key)).ToList();
        if (other.Count > 0)
        {
            section.Add(new XElement(H + "h3", "Other report fields"));
            var dl = new XElement(H + "dl", new XAttribute("id", $"{id}-other"));
            foreach (var (k, v) in other) dl.Add(new XElement(H + "dt", k), new XElement(H + "dd", Cell(v)));
            section.Add(dl);
        }
        return section;
    }

    /// <summary>Two bars per tensor, to one scale: bytes before (grey) and after (blue), with the numbers.</summary>
    private static XElement Chart(List<JsonObject> weights)
    {
        const int labelWidth = 330, barWidth = 420, row = 30, top = 24;
        int width = labelWidth + barWidth + 150, height = top + weights.Count * row + 8;
        double max = Math.Max(1, weights.Max(w => Long(w["originalBytes"])));
        var svg = new XElement(Svg + "svg", new XAttribute("width", width), new XAttribute("height", height),
            new XAttribute("viewBox", $"0 0 {width} {height}"), new XAttribute("role", "img"), new XAttribute("class", "chart"),
            new XElement(Svg + "title", "Bytes per ternary tensor before and after packing"),
            new XElement(Svg + "rect", new XAttribute("x", labelWidth), new XAttribute("y", 6), new XAttribute("width", 12), new XAttribute("height", 10), new XAttribute("class", "before")),
            Text(labelWidth + 16, 15, "before", "legend"),
            new XElement(Svg + "rect", new XAttribute("x", labelWidth + 80), new XAttribute("y", 6), new XAttribute("width", 12), new XAttribute("height", 10), new XAttribute("class", "after")),
            Text(labelWidth + 96, 15, "after (packed)", "legend"));
        for (int i = 0; i < weights.Count; i++)
        {
            var w = weights[i];
            long before = Long(w["originalBytes"]), after = Long(w["packedBytes"]);
            int y = top + i * row;
            double wb = barWidth * before / max, wa = barWidth * after / max;
            string name = Str(w["name"]);
            var g = new XElement(Svg + "g", new XAttribute("class", "bar"),
                new XElement(Svg + "title", $"{name}: {N(before)} -> {N(after)} bytes"),
                Text(labelWidth - 6, y + 17, name.Length > 48 ? "…" + name[^47..] : name, "label"),
                new XElement(Svg + "rect", new XAttribute("x", labelWidth), new XAttribute("y", y + 2), new XAttribute("width", F(wb)), new XAttribute("height", 12), new XAttribute("class", "before")),
                new XElement(Svg + "rect", new XAttribute("x", labelWidth), new XAttribute("y", y + 15), new XAttribute("width", F(Math.Max(wa, 0.5))), new XAttribute("height", 12), new XAttribute("class", "after")),
                Text(labelWidth + wb + 4, y + 12, N(before), "value"),
                Text(labelWidth + Math.Max(wa, 0.5) + 4, y + 25, N(after), "value"));
            svg.Add(g);
        }
        return new XElement(H + "div", new XAttribute("class", "chart-box"), svg);
    }

    private static XElement Text(double x, double y, string text, string cls)
    {
        var t = new XElement(Svg + "text", new XAttribute("x", F(x)), new XAttribute("y", F(y)), new XAttribute("class", cls), text);
        if (cls == "label") t.Add(new XAttribute("text-anchor", "end"));
        return t;
    }

    private static XElement LayerTable(string id, List<JsonObject> weights)
    {
        var groups = weights.GroupBy(w => LayerOf(Str(w["name"])))
            .OrderBy(g => g.Key.Number ?? int.MaxValue).ThenBy(g => g.Key.Label, StringComparer.Ordinal).ToList();
        var table = Table(id, ["layer", "tensors", "weights", "bytes before", "bytes after", "bits per weight"]);
        foreach (var g in groups)
        {
            long elements = g.Sum(Elements), before = g.Sum(w => Long(w["originalBytes"])), after = g.Sum(w => Long(w["packedBytes"]));
            table.Add(Row(g.Key.Label, g.Count().ToString(Inv), N(elements), N(before), N(after), Bits(after, elements)));
        }
        if (groups.Count > 1)
        {
            long elements = weights.Sum(Elements), before = weights.Sum(w => Long(w["originalBytes"])), after = weights.Sum(w => Long(w["packedBytes"]));
            table.Add(Row("total", weights.Count.ToString(Inv), N(elements), N(before), N(after), Bits(after, elements)).WithClass("total"));
        }
        return table;
    }

    private static XElement PassTable(string id, List<JsonObject> passes)
    {
        double max = Math.Max(1e-9, passes.Select(p => Double(p["milliseconds"])).DefaultIfEmpty(0).Max());
        var columns = Columns(passes);
        var table = Table(id, [.. columns, "what it does", "time"]);
        foreach (var p in passes)
        {
            var tr = new XElement(H + "tr", columns.Select(c => new XElement(H + "td", Cell(p[c]))));
            tr.Add(new XElement(H + "td", PassDescriptions.GetValueOrDefault(Str(p["name"]), "")));
            double share = Double(p["milliseconds"]) / max;
            tr.Add(new XElement(H + "td", new XAttribute("class", "time"), new XElement(H + "span", new XAttribute("class", "timebar"), new XAttribute("style", $"width: {F(share * 100)}%"))));
            table.Add(tr);
        }
        return table;
    }

    /// <summary>A table of report entries with one column per field any entry has, in first-seen order.</summary>
    private static XElement EntryTable(string id, List<JsonObject> entries, (string Header, Func<JsonObject, string> Value)? extra = null)
    {
        if (entries.Count == 0) return new XElement(H + "p", new XAttribute("id", id), "None.");
        var columns = Columns(entries);
        var table = Table(id, extra is { } e ? [.. columns, e.Header] : columns);
        foreach (var entry in entries)
        {
            var tr = new XElement(H + "tr", columns.Select(c => new XElement(H + "td", Cell(entry[c]))));
            if (extra is { } x) tr.Add(new XElement(H + "td", x.Value(entry)));
            table.Add(tr);
        }
        return table;
    }

    private static List<string> Columns(List<JsonObject> entries)
    {
        var columns = new List<string>();
        foreach (var e in entries) foreach (var (k, _) in e) if (!columns.Contains(k)) columns.Add(k);
        return columns;
    }

    private static XElement Table(string id, IEnumerable<string> headers) =>
        new(H + "table", new XAttribute("id", id), new XElement(H + "tr", headers.Select(h => new XElement(H + "th", new XAttribute("data-field", h), Headers.GetValueOrDefault(h, h)))));

    /// <summary>What the built-in passes do, for the passes table; a plugin's pass shows its name and numbers only.</summary>
    private static readonly Dictionary<string, string> PassDescriptions = new()
    {
        ["SortTopologically"] = "orders nodes so every value is made before it is used (only when the file's order is not one)",
        ["LowerFlexAttention"] = "rewrites FlexAttention nodes for the target (see FlexAttention decisions)",
        ["DetectTernaryWeights"] = "finds MatMul/Gemm weights that are 0 or plus/minus a scale (see Ternary tensors, Left dense)",
        ["PackTernaryWeights"] = "replaces each ternary weight by TTF1 bytes, a scale and a TernaryDecode node",
        ["AddTernaryDecodeFunction"] = "adds TernaryDecode's standard-op function body, so any runtime runs it",
        ["RemoveTernaryDecodeFunction"] = "drops TernaryDecode's function body (the target decodes natively)",
        ["FoldTernaryDecode"] = "decodes packed weights back to dense tensors at compile time",
        ["TranscodeToMatMulNBits"] = "moves ternary MatMul weights losslessly into com.microsoft MatMulNBits (2 bits)",
    };

    /// <summary>Readable headers for the report's known field names; any other field shows under its own name.</summary>
    private static readonly Dictionary<string, string> Headers = new()
    {
        ["dtype"] = "type", ["scaleKind"] = "scale", ["packedBytes"] = "bytes after", ["originalBytes"] = "bytes before",
        ["milliseconds"] = "ms",
    };

    private static XElement Row(params string[] cells) => new(H + "tr", cells.Select(c => new XElement(H + "td", c)));

    private static string Cell(JsonNode? v) => v switch
    {
        null => "",
        JsonArray a when a.All(x => x is JsonValue) => string.Join(" × ", a.Select(x => Cell(x))),
        JsonValue j when j.TryGetValue<long>(out var l) => N(l),
        JsonValue j when j.TryGetValue<double>(out var d) => d.ToString("0.###", Inv),
        JsonValue j when j.TryGetValue<string>(out var s) => s,
        JsonValue j => j.ToJsonString(),
        _ => v.ToJsonString(),
    };

    private static IEnumerable<JsonObject> Entries(JsonObject report, string key) => (report[key] as JsonArray ?? []).OfType<JsonObject>();

    private static long Elements(JsonObject w) => (w["shape"] as JsonArray ?? []).Aggregate(1L, (a, d) => a * Long(d));
    private static long Long(JsonNode? n) => n is JsonValue v && v.TryGetValue<long>(out var l) ? l : n is JsonValue d && d.TryGetValue<double>(out var x) ? (long)x : 0;
    private static double Double(JsonNode? n) => n is JsonValue v && v.TryGetValue<double>(out var d) ? d : Long(n);
    private static string Str(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : n?.ToJsonString() ?? "";

    /// <summary>The layer a tensor name belongs to ("layers.3", "h.3", "blocks.3" ...), or "(not in a layer)".</summary>
    internal static (string Label, int? Number) LayerOf(string name)
    {
        var m = LayerPattern().Match(name);
        return m.Success ? ($"layer {m.Groups[2].Value}", int.Parse(m.Groups[2].Value, Inv)) : ("(not in a layer)", null);
    }

    [GeneratedRegex(@"(?:^|[./_])(layers?|h|blocks?)[._/]?(\d+)(?=[./_]|$)")]
    private static partial Regex LayerPattern();

    private static string N(long v) => v.ToString("N0", Inv);
    private static string F(double v) => v.ToString("0.##", Inv);
    private static string Percent(long before, long after) => (before == 0 ? 0 : (double)after / before).ToString("P1", Inv);
    private static string Bits(long packedBytes, long elements) => elements == 0 ? "" : (packedBytes * 8.0 / elements).ToString("F3", Inv);

    private static XElement WithId(this XElement e, string id) { e.SetAttributeValue("id", id); return e; }
    private static XElement WithClass(this XElement e, string cls) { e.SetAttributeValue("class", cls); return e; }

    private const string Css = """
        body { font-family: system-ui, sans-serif; margin: 2em; color: #1d2330; max-width: 80em; }
        h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccd; } h3 { margin-top: 1.6em; font-size: 1.1em; }
        dl.summary { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.2em; }
        dl.summary dt { color: #556; } dl.summary dd { margin: 0; font-weight: 600; }
        table { border-collapse: collapse; font-size: 0.9em; } th, td { border: 1px solid #dde; padding: 0.25em 0.6em; text-align: left; }
        th { background: #f0f2f8; } tr.total td { font-weight: 600; }
        .chart-box { overflow-x: auto; } svg.chart text { font-size: 11px; fill: #1d2330; } svg.chart text.value { fill: #556; }
        svg.chart rect.before { fill: #b8bcc8; } svg.chart rect.after { fill: #2f6fdb; }
        .timebar { display: inline-block; height: 0.8em; min-width: 1px; background: #2f6fdb; }
        td.time { width: 12em; } p.foot { color: #778; font-size: 0.85em; margin-top: 3em; }
        """;
}
