using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Ternion.IR;
using Ternion.IR.Serialization;

namespace Ternion.Passes;

public sealed record PassManagerOptions
{
    /// <summary>Check the graph invariants after every pass (always on in tests; --check on the CLI).</summary>
    public bool CheckInvariants { get; init; }
    /// <summary>Write the model after each pass into numbered folders here (--dump-ir).</summary>
    public string? DumpDirectory { get; init; }
}

/// <summary>Runs an ordered pipeline of passes, timing each, and checking invariants between them when asked.</summary>
public sealed class PassManager
{
    private readonly IReadOnlyList<IPass> _passes;
    private readonly PassManagerOptions _options;

    public PassManager(IEnumerable<IPass> passes, PassManagerOptions? options = null)
    {
        _passes = passes.ToList();
        _options = options ?? new PassManagerOptions();
    }

    public IReadOnlyList<IPass> Passes => _passes;

    public Model Run(Model model, PassContext context)
    {
        if (_options.CheckInvariants) Check(model, "(input)");
        int index = 0;
        foreach (var pass in _passes)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            index++;
            var sw = Stopwatch.StartNew();
            var result = pass.Run(model, context);
            sw.Stop();
            if (pass.InPlace && !ReferenceEquals(result.Model, model))
                throw new InvalidOperationException($"pass '{pass.Name}' says it works in place but returned another model");
            model = result.Model;
            context.Report.Passes.Add(new PassLogEntry { Name = pass.Name, Changes = result.Changes, Milliseconds = Math.Round(sw.Elapsed.TotalMilliseconds, 2) });
            context.Logger.LogDebug("pass {Index:00} {Pass}: {Changes} change(s), {Ms:F1} ms", index, pass.Name, result.Changes, sw.Elapsed.TotalMilliseconds);
            if (_options.CheckInvariants) Check(model, pass.Name);
            if (_options.DumpDirectory is { } dump) Dump(model, dump, index, pass.Name, context.Logger);
        }
        return model;
    }

    private static void Check(Model model, string passName)
    {
        var problems = GraphInvariants.Check(model);
        if (problems.Count > 0) throw new InvariantViolationException(passName, problems);
    }

    private static void Dump(Model model, string dir, int index, string name, ILogger logger)
    {
        var folder = Path.Combine(dir, $"{index:00}-{name}");
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, "model.onnx");
        ModelSerializer.Save(model, path, new SaveOptions { ExternalData = ExternalDataMode.Auto, ForceExternal = t => t.ByteLength >= (1 << 20) });
        logger.LogDebug("dumped IR after {Pass} to {Path}", name, path);
    }
}
