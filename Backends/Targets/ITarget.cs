using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Passes;

namespace Ternion.Backends.Targets;

/// <summary>
/// A named target: what it is and what it runs natively. That is all every target must say; the
/// pipeline and the output format are optional capabilities (<see cref="IConfiguresPipeline"/>,
/// <see cref="IEmitsModel"/>), so a small target stays small.
/// </summary>
public interface ITarget
{
    /// <summary>The name users pass to --target (lower case, no spaces).</summary>
    string Name { get; }
    string Description { get; }
    TargetCapabilities Capabilities { get; }
}

/// <summary>A target that adds, replaces or removes passes of the standard pipeline.</summary>
public interface IConfiguresPipeline
{
    void Configure(Pipeline pipeline, TargetOptions options);
}

/// <summary>A target that writes its output itself (another container, extra files ...).</summary>
public interface IEmitsModel
{
    SaveResult Emit(Model model, string outputPath, TargetOptions options);
}

/// <summary>Per-compilation choices a target may honour.</summary>
public sealed record TargetOptions
{
    /// <summary>Keep the standard-op fallback body of TernaryDecode (native target: --no-fallback-body turns it off).</summary>
    public bool FallbackBody { get; init; } = true;
    public ExternalDataMode ExternalData { get; init; } = ExternalDataMode.Auto;
    /// <summary>Alignment of the external data file; null = the target's preference.</summary>
    public int? Alignment { get; init; }
    /// <summary>Where an emitter reports how writing goes (a progress bar on the CLI).</summary>
    public ISaveProgress? Progress { get; init; }
    /// <summary>File name for the external data file; null: the output's file name plus ".data".</summary>
    public string? DataFileName { get; init; }
}

/// <summary>
/// The ordered passes of one compilation. Targets and plugins edit it by pass name, so they can
/// insert their own passes at a known place or replace a built-in one.
/// </summary>
public sealed class Pipeline
{
    private readonly List<IPass> _passes = new();

    public Pipeline(IEnumerable<IPass>? passes = null) { if (passes is not null) _passes.AddRange(passes); }

    public IReadOnlyList<IPass> Passes => _passes;

    public Pipeline Add(IPass pass) { _passes.Add(pass); return this; }

    public Pipeline InsertAfter(string existing, IPass pass) { _passes.Insert(IndexOf(existing) + 1, pass); return this; }

    public Pipeline InsertBefore(string existing, IPass pass) { _passes.Insert(IndexOf(existing), pass); return this; }

    public Pipeline Replace(string existing, IPass pass) { _passes[IndexOf(existing)] = pass; return this; }

    public Pipeline Remove(string existing) { _passes.RemoveAt(IndexOf(existing)); return this; }

    public bool Contains(string name) => _passes.Any(p => p.Name == name);

    private int IndexOf(string name)
    {
        int i = _passes.FindIndex(p => p.Name == name);
        if (i < 0) throw new TernionException($"the pipeline has no pass named '{name}' (it has: {string.Join(", ", _passes.Select(p => p.Name))})");
        return i;
    }
}
