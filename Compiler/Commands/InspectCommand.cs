using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ternion.IR;
using Ternion.IR.Serialization;

namespace Ternion.Compiler.Commands;

/// <summary>`ternion inspect MODEL [--json]`: what a model holds, read without touching weight bytes.</summary>
public static class InspectCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = new Argument<string>("MODEL") { Description = "ONNX model file" };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of text" };
        var cmd = new Command("inspect", "Show versions, inputs/outputs, operators, initializers, external data, functions and nesting depth") { model, json };
        cmd.SetAction(p =>
        {
            var m = ModelSerializer.Load(p.GetValue(model)!);
            var s = ModelSummary.Of(m, p.GetValue(model)!);
            if (p.GetValue(json)) ctx.Stdout.WriteLine(JsonSerializer.Serialize(s, ModelSummary.JsonOptions));
            else s.WriteText(ctx.Stdout);
            return Cli.ExitOk;
        });
        return cmd;
    }
}

public sealed record ValueSummary(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("type")] string Type);

public sealed record ExternalFileSummary(
    [property: JsonPropertyName("location")] string Location,
    [property: JsonPropertyName("tensors")] int Tensors,
    [property: JsonPropertyName("bytes")] long Bytes);

public sealed record FunctionSummary(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("nodes")] int Nodes);

/// <summary>The facts `inspect` prints; built from dims and lengths only, so no weight is read.</summary>
public sealed class ModelSummary
{
    [JsonPropertyName("file")] public string File { get; init; } = "";
    [JsonPropertyName("irVersion")] public long? IrVersion { get; init; }
    [JsonPropertyName("opsets")] public Dictionary<string, long?> Opsets { get; init; } = new();
    [JsonPropertyName("producer")] public string? Producer { get; init; }
    [JsonPropertyName("producerVersion")] public string? ProducerVersion { get; init; }
    [JsonPropertyName("inputs")] public List<ValueSummary> Inputs { get; init; } = new();
    [JsonPropertyName("outputs")] public List<ValueSummary> Outputs { get; init; } = new();
    [JsonPropertyName("nodes")] public int Nodes { get; init; }
    [JsonPropertyName("ops")] public SortedDictionary<string, int> Ops { get; init; } = new(StringComparer.Ordinal);
    [JsonPropertyName("initializers")] public int Initializers { get; init; }
    [JsonPropertyName("initializerBytes")] public long InitializerBytes { get; init; }
    [JsonPropertyName("externalData")] public List<ExternalFileSummary> ExternalData { get; init; } = new();
    [JsonPropertyName("functions")] public List<FunctionSummary> Functions { get; init; } = new();
    [JsonPropertyName("maxSubgraphDepth")] public int MaxSubgraphDepth { get; init; }
    [JsonPropertyName("metadata")] public Dictionary<string, string?> Metadata { get; init; } = new();
    /// <summary>MatMul/Gemm/MatMulNBits weights by the form they are stored in; compile tells which are ternary.</summary>
    [JsonPropertyName("weightCandidates")] public SortedDictionary<string, int> WeightCandidates { get; init; } = new(StringComparer.Ordinal);

    public static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static ModelSummary Of(Model m, string file)
    {
        var graphs = m.Graph.AllGraphs().ToList();
        var allNodes = graphs.SelectMany(g => g.Nodes).Concat(m.Functions.SelectMany(f => f.Body.AllGraphs()).SelectMany(g => g.Nodes)).ToList();
        var ops = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var n in allNodes)
        {
            string key = $"{(n.DomainName.Length == 0 ? "ai.onnx" : n.DomainName)}::{n.OpType}";
            ops[key] = ops.GetValueOrDefault(key) + 1;
        }
        var inits = graphs.SelectMany(g => g.Initializers).Select(v => v.Initializer!).ToList();
        var external = m.AllTensors().Where(t => t.Data is ExternalTensorData).Select(t => (ExternalTensorData)t.Data)
            .GroupBy(e => e.Location, StringComparer.Ordinal)
            .Select(g => new ExternalFileSummary(g.Key, g.Count(), g.Sum(e => e.Length))).ToList();
        return new ModelSummary
        {
            File = file,
            IrVersion = m.IrVersion,
            Opsets = m.OpsetImports.GroupBy(o => o.DomainName.Length == 0 ? "ai.onnx" : o.DomainName).ToDictionary(g => g.Key, g => g.Last().Version),
            Producer = m.ProducerName,
            ProducerVersion = m.ProducerVersion,
            Inputs = m.Graph.Inputs.Where(v => !v.IsInitializer).Select(v => new ValueSummary(v.Name, v.Type?.ToString() ?? "?")).ToList(),
            Outputs = m.Graph.Outputs.Select(v => new ValueSummary(v.Name, v.Type?.ToString() ?? "?")).ToList(),
            Nodes = allNodes.Count,
            Ops = ops,
            Initializers = inits.Count,
            InitializerBytes = inits.Sum(t => t.ByteLength),
            ExternalData = external,
            Functions = m.Functions.Select(f => new FunctionSummary(f.Key, f.Body.AllGraphs().Sum(g => g.Nodes.Count))).ToList(),
            MaxSubgraphDepth = m.AllGraphs().Max(g => g.Depth),
            Metadata = m.Metadata.Where(e => e.Key is not null).GroupBy(e => e.Key!).ToDictionary(g => g.Key, g => g.Last().Value),
            WeightCandidates = Passes.Ternary.Sources.WeightCandidates.ByForm(m),
        };
    }

    public void WriteText(TextWriter w)
    {
        w.WriteLine($"model:        {File}");
        w.WriteLine($"ir_version:   {IrVersion?.ToString() ?? "(absent)"}");
        w.WriteLine($"opsets:       {string.Join(", ", Opsets.Select(o => $"{o.Key} {o.Value}"))}");
        w.WriteLine($"producer:     {Producer ?? "(none)"} {ProducerVersion}".TrimEnd());
        w.WriteLine($"inputs:       {Inputs.Count}");
        foreach (var i in Inputs) w.WriteLine($"  {i.Name}: {i.Type}");
        w.WriteLine($"outputs:      {Outputs.Count}");
        foreach (var o in Outputs) w.WriteLine($"  {o.Name}: {o.Type}");
        w.WriteLine($"nodes:        {Nodes:N0} (subgraphs and functions included)");
        foreach (var (op, n) in Ops.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)) w.WriteLine($"  {n,7:N0}  {op}");
        w.WriteLine($"initializers: {Initializers:N0}, {InitializerBytes:N0} bytes");
        w.WriteLine($"external data: {(ExternalData.Count == 0 ? "none" : "")}");
        foreach (var e in ExternalData) w.WriteLine($"  {e.Location}: {e.Tensors:N0} tensors, {e.Bytes:N0} bytes");
        w.WriteLine($"functions:    {(Functions.Count == 0 ? "none" : "")}");
        foreach (var f in Functions) w.WriteLine($"  {f.Name} ({f.Nodes} nodes)");
        w.WriteLine($"max subgraph depth: {MaxSubgraphDepth}");
        w.WriteLine($"weight candidates: {(WeightCandidates.Count == 0 ? "none" : string.Join(", ", WeightCandidates.Select(c => $"{c.Value:N0} {c.Key}")))}"
            + (WeightCandidates.Count == 0 ? "" : " (compile reads the values to tell which are ternary)"));
        if (Metadata.Count > 0)
        {
            w.WriteLine("metadata:");
            foreach (var (k, v) in Metadata) w.WriteLine($"  {k} = {v}");
        }
    }
}
