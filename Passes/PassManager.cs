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

    /// <summary>
    /// Runs the passes in order. With <see cref="PassManagerOptions.CheckInvariants"/>, every pass is
    /// held to its contract and to the graph invariants, and is named in the error when it breaks
    /// one; a defect the input already had is not blamed on the first pass that leaves it alone.
    /// </summary>
    public Model Run(Model model, PassContext context)
    {
        bool check = _options.CheckInvariants;
        var known = check ? InputProblems(model, context.Logger) : [];
        int index = 0;
        foreach (var pass in _passes)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            index++;
            ulong before = check ? ModelFingerprint.Of(model) : 0;
            var sw = Stopwatch.StartNew();
            PassResult result;
            try { result = pass.Run(model, context); }
            // Errors about the model pass through as they are; anything else is a defect of the pass, so name it.
            catch (Exception e) when (e is IrMutationException || e is not (TernionException or OperationCanceledException or OutOfMemoryException or IOException or UnauthorizedAccessException))
            {
                throw new PassFailedException(pass.Name, e);
            }
            sw.Stop();
            if (result is null || result.Model is null)
                throw new PassContractException(pass.Name, "returned no model");
            if (pass.InPlace && !ReferenceEquals(result.Model, model))
                throw new PassContractException(pass.Name, "says it works in place but returned another model");
            if (check) CheckContract(pass, model, result, before);
            model = result.Model;
            context.Report.Passes.Add(new PassLogEntry { Name = pass.Name, Changes = result.Changes, Milliseconds = Math.Round(sw.Elapsed.TotalMilliseconds, 2) });
            context.Logger.LogDebug("pass {Index:00} {Pass}: {Changes} change(s), model {Modified}, {Ms:F1} ms",
                index, pass.Name, result.Changes, result.Modified ? "changed" : "unchanged", sw.Elapsed.TotalMilliseconds);
            if (check) known = Check(model, pass.Name, known);
            if (_options.DumpDirectory is { } dump) Dump(model, dump, index, pass.Name, context.Logger);
        }
        return model;
    }

    /// <summary>What a pass promised: in-place passes that report no change made none; functional ones left their input alone.</summary>
    private static void CheckContract(IPass pass, Model input, PassResult result, ulong before)
    {
        bool inputChanged = ModelFingerprint.Of(input) != before;
        if (pass.InPlace)
        {
            if (inputChanged && !result.Modified)
                throw new PassContractException(pass.Name, "reported no change but changed the model");
            return;
        }
        if (inputChanged)
            throw new PassContractException(pass.Name, "is functional but changed the model it was given");
        if (result.Modified && ReferenceEquals(result.Model, input))
            throw new PassContractException(pass.Name, "is functional and reports a change, but returned the model it was given");
    }

    /// <summary>
    /// Problems of the model as it came in. The loader accepts node orders that are not topological
    /// (only cycles are refused), so those are noted, not fatal: sorting is a pass's job.
    /// </summary>
    private static HashSet<string> InputProblems(Model model, ILogger logger)
    {
        var problems = GraphInvariants.Check(model);
        foreach (var p in problems) logger.LogDebug("the input model already breaks an invariant: {Problem}", p);
        return problems.ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Blames <paramref name="passName"/> for every problem that was not there before it ran.</summary>
    private static HashSet<string> Check(Model model, string passName, HashSet<string> known)
    {
        var problems = GraphInvariants.Check(model);
        var introduced = problems.Where(p => !known.Contains(p)).ToList();
        if (introduced.Count > 0) throw new InvariantViolationException(passName, introduced);
        return problems.ToHashSet(StringComparer.Ordinal);
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
