using System.Globalization;
using System.Text.Json.Nodes;
using System.Xml;
using System.Xml.Linq;
using Ternion.Backends.Reports;
using Ternion.Passes;
using Ternion.TestSupport;

namespace Ternion.Cli.Tests;

/// <summary>
/// `--report FILE.html`: a well-formed page (read by an XML parser) with no script and nothing
/// fetched from elsewhere, carrying the same numbers as the JSON report of the same compile.
/// </summary>
public class HtmlReportTests : IDisposable
{
    private static readonly XNamespace H = "http://www.w3.org/1999/xhtml";
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private readonly TempDir _dir = new("html");
    public void Dispose() => _dir.Dispose();

    private static string Sample => Path.Combine(Paths.TestData, "bitnet-tiny", "model.onnx");

    private static XDocument Load(string path)
    {
        using var reader = XmlReader.Create(path, new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        return XDocument.Load(reader); // throws on anything not well-formed
    }

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    private static List<List<string>> Rows(XDocument doc, string tableId) =>
        doc.Descendants(H + "table").Single(t => (string?)t.Attribute("id") == tableId).Elements(H + "tr").Skip(1)
            .Select(tr => tr.Elements(H + "td").Select(td => td.Value).ToList()).ToList();

    private static List<string> Fields(XDocument doc, string tableId) =>
        doc.Descendants(H + "table").Single(t => (string?)t.Attribute("id") == tableId).Elements(H + "tr").First()
            .Elements(H + "th").Select(th => (string)th.Attribute("data-field")!).ToList();

    private static void AssertSelfContained(XDocument doc)
    {
        Assert.Equal(H + "html", doc.Root!.Name);
        Assert.DoesNotContain(doc.Descendants(), e => e.Name.LocalName is "script" or "link" or "img" or "iframe" or "object");
        Assert.DoesNotContain(doc.Descendants().Attributes(), a => a.Name.LocalName is "src" or "href");
        Assert.DoesNotContain("@import", doc.Descendants(H + "style").Single().Value);
        Assert.DoesNotContain("url(", doc.Descendants(H + "style").Single().Value);
    }

    [Fact]
    public void TheHtmlReportIsWellFormedSelfContainedAndCarriesTheJsonReportsNumbers()
    {
        var html = _dir.File("report.html");
        var json = _dir.File("report.json");
        Assert.Equal(0, CliRunner.Run("compile", Sample, "-o", _dir.File("a.onnx"), "--report", html).ExitCode);
        Assert.Equal(0, CliRunner.Run("compile", Sample, "-o", _dir.File("b.onnx"), "--report", json).ExitCode);
        var report = CompileReport.FromJson(File.ReadAllText(json));
        var doc = Load(html);
        AssertSelfContained(doc);

        string Summary(string key) => doc.Descendants(H + "dd").Single(d => (string?)d.Attribute("data-key") == key).Value;
        Assert.Equal(report.BitsPerTernaryWeight.ToString("F3", CultureInfo.InvariantCulture), Summary("bits"));
        Assert.StartsWith($"{N(report.BytesBefore)} -> {N(report.BytesAfter)}", Summary("bytes"));
        Assert.Equal("fallback", Summary("target"));

        // Every ternary tensor: a pair of bars in the chart and a row with its numbers.
        var bars = doc.Descendants(Svg + "g").Where(g => (string?)g.Attribute("class") == "bar").ToList();
        Assert.Equal(report.TernaryWeights.Count, bars.Count);
        var rows = Rows(doc, "m0-tensors");
        var fields = Fields(doc, "m0-tensors");
        Assert.Equal(report.TernaryWeights.Count, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            var w = report.TernaryWeights[i];
            Assert.Equal(w.Name, rows[i][fields.IndexOf("name")]);
            Assert.Equal(N(w.PackedBytes), rows[i][fields.IndexOf("packedBytes")]);
            Assert.Equal(N(w.OriginalBytes), rows[i][fields.IndexOf("originalBytes")]);
            Assert.Equal(string.Join(" × ", w.Shape), rows[i][fields.IndexOf("shape")]);
            Assert.Contains(w.Name, bars[i].Element(Svg + "title")!.Value);
            Assert.Contains($"{N(w.OriginalBytes)} -> {N(w.PackedBytes)}", bars[i].Element(Svg + "title")!.Value);
        }

        // Per layer: the sample's two layers, seven ternary projections each, and the total.
        var layers = Rows(doc, "m0-layers");
        Assert.Equal(["layer 0", "layer 1", "total"], layers.Select(r => r[0]));
        Assert.Equal(["7", "7", "14"], layers.Select(r => r[1]));
        Assert.Equal(N(report.TernaryWeights.Sum(w => w.OriginalBytes)), layers[2][3]);
        Assert.Equal(N(report.TernaryWeights.Sum(w => w.PackedBytes)), layers[2][4]);

        var rejected = Rows(doc, "m0-rejected");
        var rejectedFields = Fields(doc, "m0-rejected");
        Assert.Equal(report.Rejected.Select(r => (r.Name, r.Reason)), rejected.Select(r => (r[rejectedFields.IndexOf("name")], r[rejectedFields.IndexOf("reason")])));
        Assert.Equal(report.Passes.Select(p => p.Name), Rows(doc, "m0-passes").Select(r => r[0]));
        Assert.Equal(report.Passes.Select(p => p.Changes.ToString(CultureInfo.InvariantCulture)), Rows(doc, "m0-passes").Select(r => r[1]));
        // Times differ from run to run (the two reports come from two compiles): a number each.
        Assert.All(Rows(doc, "m0-passes"), r => Assert.True(double.Parse(r[2], CultureInfo.InvariantCulture) >= 0));
        Assert.Contains("TTF1", Rows(doc, "m0-passes").Single(r => r[0] == "PackTernaryWeights")[3]);
        var flex = Rows(doc, "m0-flex");
        Assert.Equal(2, flex.Count);
        Assert.All(flex, r => Assert.Equal(["element-wise", "lowered", "MatMul/Softmax ops: it has a score_mod"], r.Skip(1)));
    }

    /// <summary>A field the report gains later shows as a column (as "source" did); an unknown top-level field is listed, not dropped.</summary>
    [Fact]
    public void FieldsThePageDoesNotKnowAreShownNotDropped()
    {
        var report = JsonNode.Parse(File.ReadAllText(CompileAndReport()))!.AsObject();
        foreach (var w in report["ternaryWeights"]!.AsArray()) w!["placement"] = "near its MatMul";
        report["newSection"] = new JsonObject { ["answer"] = 42 };
        var path = _dir.File("extended.html");
        File.WriteAllText(path, HtmlReport.Render("model.onnx", report.ToJsonString()));
        var doc = Load(path);
        AssertSelfContained(doc);
        var fields = Fields(doc, "m0-tensors");
        Assert.Contains("placement", fields);
        Assert.All(Rows(doc, "m0-tensors"), r => Assert.Equal("near its MatMul", r[fields.IndexOf("placement")]));
        Assert.All(Rows(doc, "m0-tensors"), r => Assert.Equal("initializer", r[fields.IndexOf("source")])); // a field the report has today
        var other = doc.Descendants(H + "dl").Single(d => (string?)d.Attribute("id") == "m0-other");
        Assert.Equal("newSection", other.Element(H + "dt")!.Value);
        Assert.Contains("42", other.Element(H + "dd")!.Value);
    }

    [Fact]
    public void AFolderReportHasOneSectionPerModel()
    {
        var input = Path.Combine(_dir.Path, "folder");
        Directory.CreateDirectory(input);
        File.Copy(Sample, Path.Combine(input, "decoder_model.onnx"));
        File.Copy(Path.Combine(Paths.TestData, "bitnet-tiny", "reference.onnx"), Path.Combine(input, "reference.onnx"));
        File.WriteAllText(Path.Combine(input, "config.json"), "{}");
        var html = _dir.File("folder.html");
        var r = CliRunner.Run("compile", input, "-o", _dir.File("out"), "--report", html);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = Load(html);
        AssertSelfContained(doc);
        Assert.Equal(["decoder_model.onnx", "reference.onnx"], doc.Descendants(H + "h2").Select(h => h.Value));
        Assert.Equal("2", doc.Descendants(H + "dd").First(d => (string?)d.Attribute("data-key") == "models").Value);
        Assert.Equal(14, Rows(doc, "m0-tensors").Count);
        Assert.Equal(14, Rows(doc, "m1-tensors").Count);
        Assert.Equal(2, Rows(doc, "m0-flex").Count);
        Assert.Equal("None.", doc.Descendants(H + "p").Single(p => (string?)p.Attribute("id") == "m1-flex").Value);
    }

    private string CompileAndReport()
    {
        var json = _dir.File("base.json");
        Assert.Equal(0, CliRunner.Run("compile", Sample, "-o", _dir.File("base.onnx"), "--report", json).ExitCode);
        return json;
    }
}
