using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ternion.Passes;

/// <summary>What a compilation did, written as JSON by --report and summarised on the console.</summary>
public sealed class CompileReport
{
    [JsonPropertyName("target")] public string Target { get; set; } = "";
    [JsonPropertyName("ternaryWeights")] public List<TernaryWeightEntry> TernaryWeights { get; } = new();
    [JsonPropertyName("rejected")] public List<RejectedEntry> Rejected { get; } = new();
    [JsonPropertyName("flexAttention")] public List<FlexAttentionEntry> FlexAttention { get; } = new();
    [JsonPropertyName("bytesBefore")] public long BytesBefore { get; set; }
    [JsonPropertyName("bytesAfter")] public long BytesAfter { get; set; }
    [JsonPropertyName("passes")] public List<PassLogEntry> Passes { get; } = new();

    /// <summary>Bits per ternary weight over all packed weights (packed bytes * 8 / weights).</summary>
    [JsonIgnore]
    public double BitsPerTernaryWeight
    {
        get
        {
            long weights = TernaryWeights.Sum(w => w.Shape.Aggregate(1L, (a, b) => a * b));
            return weights == 0 ? 0 : TernaryWeights.Sum(w => w.PackedBytes) * 8.0 / weights;
        }
    }

    // Populate: the lists are get-only, and without it reading a report back leaves them empty.
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PreferredObjectCreationHandling = JsonObjectCreationHandling.Populate };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static CompileReport FromJson(string json) => JsonSerializer.Deserialize<CompileReport>(json, Json)!;
}

public sealed class TernaryWeightEntry
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("shape")] public long[] Shape { get; set; } = [];
    [JsonPropertyName("dtype")] public string DType { get; set; } = "";
    [JsonPropertyName("axis")] public int Axis { get; set; }
    [JsonPropertyName("scaleKind")] public string ScaleKind { get; set; } = "per-tensor";
    [JsonPropertyName("packedBytes")] public long PackedBytes { get; set; }
    [JsonPropertyName("originalBytes")] public long OriginalBytes { get; set; }
    /// <summary>
    /// Where the weight came from: "initializer", "dequantize-linear", "weight-subgraph" (a constant
    /// subgraph quantizing or converting it), "packed-uint8" (bytes unpacked in the graph) or "matmulnbits".
    /// </summary>
    [JsonPropertyName("source")] public string Source { get; set; } = "initializer";
    /// <summary>The operators of the subgraph that computed it, in order (empty for an initializer).</summary>
    [JsonPropertyName("sourceOps")] public List<string> SourceOps { get; set; } = new();
    /// <summary>The stored tensor it was computed from (a master weight, the packed bytes, the quantized blob).</summary>
    [JsonPropertyName("sourceTensor")] public string? SourceTensor { get; set; }
}

public sealed class RejectedEntry
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("reason")] public string Reason { get; set; } = "";
    /// <summary>What kind of candidate it was (same words as <see cref="TernaryWeightEntry.Source"/>).</summary>
    [JsonPropertyName("source")] public string Source { get; set; } = "initializer";
}

public sealed class FlexAttentionEntry
{
    [JsonPropertyName("node")] public string Node { get; set; } = "";
    [JsonPropertyName("form")] public string Form { get; set; } = "";
    [JsonPropertyName("result")] public string Result { get; set; } = "";
    /// <summary>Why the pass did what <see cref="Result"/> says (e.g. why not ONNX's Attention op).</summary>
    [JsonPropertyName("reason")] public string Reason { get; set; } = "";
}

public sealed class PassLogEntry
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("changes")] public int Changes { get; set; }
    [JsonPropertyName("milliseconds")] public double Milliseconds { get; set; }
}
