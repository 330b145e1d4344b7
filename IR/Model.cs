using Ternion.IR.Onnx;

namespace Ternion.IR;

/// <summary>An ONNX model in memory. Load and save it with <see cref="Serialization.ModelSerializer"/>.</summary>
public sealed class Model
{
    public Model(Graph graph)
    {
        Graph = graph;
        graph.Names = Names;
    }

    public long? IrVersion { get; set; }
    public List<OpsetId> OpsetImports { get; } = new();
    public string? ProducerName { get; set; }
    public string? ProducerVersion { get; set; }
    public string? Domain { get; set; }
    public long? ModelVersion { get; set; }
    public string? DocString { get; set; }
    public Graph Graph { get; }
    public List<MetadataEntry> Metadata { get; } = new();
    public List<Function> Functions { get; } = new();
    public NameAuthority Names { get; } = new();

    /// <summary>Training information, kept as read (no pass rewrites training graphs).</summary>
    internal List<TrainingInfoProto> TrainingInfo { get; } = new();
    internal List<DeviceConfigurationProto> Configurations { get; } = new();
    public int TrainingInfoCount => TrainingInfo.Count;

    /// <summary>Folder of the file the model came from (external data resolves against it); null if built in memory.</summary>
    public string? SourceDirectory { get; set; }
    public string? SourcePath { get; set; }

    /// <summary>
    /// Every file the model was read from (its own file and its external data files, symbolic links
    /// resolved). A save refuses to overwrite any of them, even after passes dropped the tensors that
    /// pointed there: a packed or folded tensor still reads its source while the output is written.
    /// </summary>
    public HashSet<string> SourceFiles { get; } = new(StringComparer.Ordinal);

    public long? GetOpsetVersion(string domain)
    {
        string d = domain == "ai.onnx" ? "" : domain;
        foreach (var o in OpsetImports)
            if ((o.DomainName == "ai.onnx" ? "" : o.DomainName) == d) return o.Version;
        return null;
    }

    /// <summary>Adds an opset import, or raises the version of an existing one to at least <paramref name="version"/>.</summary>
    public void RequireOpset(string domain, long version)
    {
        for (int i = 0; i < OpsetImports.Count; i++)
        {
            var o = OpsetImports[i];
            if ((o.DomainName == "ai.onnx" ? "" : o.DomainName) == (domain == "ai.onnx" ? "" : domain))
            {
                if ((o.Version ?? 0) < version) OpsetImports[i] = o with { Version = version };
                return;
            }
        }
        OpsetImports.Add(new OpsetId(domain, version));
    }

    public Function? FindFunction(string domain, string name, string? overload = null) =>
        Functions.FirstOrDefault(f => (f.Domain ?? "") == domain && f.Name == name && (f.Overload ?? "") == (overload ?? ""));

    /// <summary>Every graph: main graph, nested subgraphs, and function bodies with theirs.</summary>
    public IEnumerable<Graph> AllGraphs() =>
        Graph.AllGraphs().Concat(Functions.SelectMany(f => f.Body.AllGraphs()));

    /// <summary>Every node of every graph (main, subgraphs, functions).</summary>
    public IEnumerable<Node> AllNodes() => AllGraphs().SelectMany(g => g.Nodes);
}
