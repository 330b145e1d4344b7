using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Ternion.Backends.Evaluation;
using Ternion.Backends.Targets;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Passes;
using Ternion.Passes.Constants;
using Ternion.Passes.Ternary;

namespace Ternion.Backends;

/// <summary>One compilation, as the CLI's `compile` and library callers describe it.</summary>
public sealed record CompileRequest
{
    public required string InputPath { get; init; }
    public required string OutputPath { get; init; }
    public string Target { get; init; } = "fallback";
    public int? BlockSize { get; init; }
    public long MinElements { get; init; } = 1024;
    public bool FallbackBody { get; init; } = true;
    /// <summary>Lower exactly-causal FlexAttention to ONNX's Attention op where the model imports opset 23+.</summary>
    public bool AttentionOp { get; init; } = true;
    /// <summary>Transcode exporters' exact weight layouts (HF BitNet packed uint8) straight to TTF1; off evaluates their subgraphs (same bytes).</summary>
    public bool DirectTranscode { get; init; } = true;
    public ExternalDataMode ExternalData { get; init; } = ExternalDataMode.Auto;
    public int? Alignment { get; init; }
    /// <summary>Check the IR invariants after every pass.</summary>
    public bool CheckInvariants { get; init; }
    /// <summary>Write the model after each pass into numbered folders here.</summary>
    public string? DumpIrDirectory { get; init; }
    public int Threads { get; init; }
    /// <summary>Extra passes (by name, from plugins) appended to the target's pipeline.</summary>
    public IReadOnlyList<string> ExtraPasses { get; init; } = [];
    /// <summary>
    /// Where the caller will write the report afterwards. Checked before anything is written, so a
    /// report can neither overwrite a file the model is read from nor the output.
    /// </summary>
    public string? ReportPath { get; init; }
    /// <summary>File name of the external data file next to the output; null: the output's name plus ".data".</summary>
    public string? DataFileName { get; init; }
    /// <summary>
    /// Chooses the data file name once the input is loaded, from the input's external data files
    /// (full paths); null from it means the default. Used when <see cref="DataFileName"/> is null.
    /// Folder compiles keep an exporter's name this way (`model.onnx_data` stays `model.onnx_data`).
    /// </summary>
    public Func<IReadOnlyList<string>, string?>? ChooseDataFileName { get; init; }
}

/// <summary>What a compile produced: its report, what was written, and how long it took.</summary>
public sealed record CompileResult(CompileReport Report, SaveResult Saved, TimeSpan Elapsed)
{
    /// <summary>The external data files the input model read (full paths, as the model names them).</summary>
    public IReadOnlyList<string> InputDataFiles { get; init; } = [];
}

/// <summary>The library entry point: load, run the target's pipeline, emit, report.</summary>
public static class TernionCompiler
{
    /// <summary>Passes every target starts from, in order; targets append their materialisation.</summary>
    public static Pipeline StandardPipeline() => new(
    [
        new SortTopologically(),
        new LowerFlexAttention(),
        new DetectTernaryWeights(),
        new PackTernaryWeights(),
    ]);

    /// <summary>Builds the pipeline a target uses: the standard passes plus the target's own.</summary>
    public static Pipeline PipelineFor(ITarget target, TargetOptions options)
    {
        var p = StandardPipeline();
        if (target is IConfiguresPipeline c) c.Configure(p, options);
        return p;
    }

    public static CompileOptions OptionsFor(ITarget target, int? blockSize, long minElements, bool fallbackBody, int threads)
    {
        int bs = blockSize ?? target.Capabilities.PreferredBlockSize;
        if (bs is not (320 or 640)) throw new TernionException($"block size {bs} must be 320 or 640");
        if (minElements < 0) throw new TernionException("--min-elements must not be negative");
        return new CompileOptions { BlockSize = bs, MinElements = minElements, FallbackBody = fallbackBody, Capabilities = target.Capabilities, Threads = threads };
    }

    /// <summary>
    /// Runs a target's pipeline on a model in memory (no files written). Weights computed by
    /// subgraphs are evaluated natively where the operators are exactly defined and with ONNX Runtime
    /// otherwise (<paramref name="evaluator"/> replaces that choice). Packed weights of such
    /// subgraphs wait in a temporary file until the model is saved; it goes when the process ends.
    /// </summary>
    public static Model CompileModel(Model model, ITarget target, CompileOptions options, TargetOptions? targetOptions = null,
        ILogger? logger = null, CompileReport? report = null, PassManagerOptions? managerOptions = null, IEnumerable<IPass>? extraPasses = null,
        IConstantEvaluator? evaluator = null)
    {
        using var ort = evaluator is null ? new OrtConstantEvaluator() : null;
        var ctx = NewContext(target, options, logger, report, evaluator ?? DefaultEvaluator(ort!));
        return Run(model, target, targetOptions ?? new TargetOptions { FallbackBody = options.FallbackBody }, ctx, managerOptions, extraPasses);
    }

    /// <summary>Native evaluation first (exact operators), ONNX Runtime for reductions and the rest.</summary>
    public static IConstantEvaluator DefaultEvaluator(OrtConstantEvaluator ort) => new ChainedEvaluator(new NativeConstantEvaluator(), ort);

    private static PassContext NewContext(ITarget target, CompileOptions options, ILogger? logger, CompileReport? report, IConstantEvaluator evaluator)
    {
        report ??= new CompileReport();
        report.Target = target.Name;
        return new PassContext(options, logger ?? NullLogger.Instance, report) { ConstantEvaluator = evaluator };
    }

    private static Model Run(Model model, ITarget target, TargetOptions targetOptions, PassContext ctx, PassManagerOptions? managerOptions, IEnumerable<IPass>? extraPasses)
    {
        var pipeline = PipelineFor(target, targetOptions);
        if (extraPasses is not null) foreach (var p in extraPasses) pipeline.Add(p);
        // TernaryDecode nodes of a model compiled before: broken ones are refused before any pass.
        TernaryDecodeInputCheck.Check(model, ctx.Cancellation);
        return new PassManager(pipeline.Passes, managerOptions).Run(model, ctx);
    }

    public static CompileResult Compile(CompileRequest request, TargetRegistry? registry = null, ILogger? logger = null, ISaveProgress? progress = null, Action<string>? phase = null)
    {
        var clock = Stopwatch.StartNew();
        registry ??= TargetRegistry.WithBuiltIns();
        logger ??= NullLogger.Instance;
        var target = registry.Get(request.Target);
        var options = OptionsFor(target, request.BlockSize, request.MinElements, request.FallbackBody, request.Threads) with { AttentionOp = request.AttentionOp, DirectTranscode = request.DirectTranscode };
        var targetOptions = new TargetOptions { FallbackBody = request.FallbackBody, ExternalData = request.ExternalData, Alignment = request.Alignment, Progress = progress };
        var extra = request.ExtraPasses.Select(name => registry.Passes.TryGetValue(name, out var f) ? f()
            : throw new TernionException($"unknown pass '{name}'; plugin passes: {(registry.Passes.Count == 0 ? "none loaded" : string.Join(", ", registry.Passes.Keys))}")).ToList();

        phase?.Invoke("loading");
        var model = ModelSerializer.Load(request.InputPath);
        if (request.ReportPath is { } reportPath) CheckReportPath(reportPath, model, request.OutputPath);
        var inputData = model.AllTensors().Select(t => t.Data).OfType<ExternalTensorData>().Select(e => e.FullPath)
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        string? dataFileName = request.DataFileName ?? request.ChooseDataFileName?.Invoke(inputData);
        targetOptions = targetOptions with { DataFileName = dataFileName };
        phase?.Invoke("passes");
        var report = new CompileReport { Target = target.Name, BytesBefore = FileBytes(model) };
        var sources = model.SourceFiles;
        using var ort = new OrtConstantEvaluator();
        var ctx = NewContext(target, options, logger, report, DefaultEvaluator(ort));
        try
        {
            try
            {
                model = Run(model, target, targetOptions, ctx,
                    new PassManagerOptions { CheckInvariants = request.CheckInvariants, DumpDirectory = request.DumpIrDirectory }, extra);
                // A functional pass returns a new model; the files to protect are still the input's.
                model.SourceFiles.UnionWith(sources);
            }
            catch (TernionException problem) when (problem is not ModelFormatException)
            {
                // Passes name the node or tensor; the user also needs to know which file holds it.
                throw new ModelFormatException(request.InputPath, problem.Message, problem);
            }
            ort.Dispose(); // its sessions are not needed for writing
            ConstTensor.TrimPool(); // nor the buffers kept for constant evaluation
            phase?.Invoke("writing (packing runs here, tensor by tensor)");
            var saved = target is IEmitsModel e
                ? e.Emit(model, request.OutputPath, targetOptions)
                : ModelSerializer.Save(model, request.OutputPath, new SaveOptions
                {
                    ExternalData = request.ExternalData,
                    Alignment = request.Alignment ?? target.Capabilities.Alignment,
                    Progress = progress,
                    DataFileName = dataFileName,
                });
            report.BytesAfter = saved.ModelBytes + saved.DataBytes;
            return new CompileResult(report, saved, clock.Elapsed) { InputDataFiles = inputData };
        }
        finally
        {
            // Weights packed from subgraphs waited in the spill file until they were written.
            ctx.ReleaseSpill();
        }
    }

    private static void CheckReportPath(string reportPath, Model model, string outputPath)
    {
        if (reportPath.Length == 0) throw new TernionException("report: the path is empty");
        // Written after the model: a report that cannot be written would fail a run whose output exists.
        string folder = Path.GetDirectoryName(Path.GetFullPath(reportPath))!;
        if (!Directory.Exists(folder)) throw new TernionException($"report {reportPath}: folder '{folder}' does not exist");
        string real = PathSafety.RealPath(Path.GetFullPath(reportPath));
        if (model.SourceFiles.Contains(real))
            throw new TernionException($"report {reportPath}: refusing to overwrite '{Path.GetFileName(real)}', which the model was read from; choose another report path");
        string output = PathSafety.RealPath(Path.GetFullPath(outputPath));
        if (real == output || real == output + ".data")
            throw new TernionException($"report {reportPath}: is where the compiled model goes; choose another report path");
    }

    /// <summary>Bytes a model occupies on disk: its file and every external data file it reads.</summary>
    public static long FileBytes(Model model)
    {
        long total = model.SourcePath is { } p && File.Exists(p) ? PathSafety.Target(p).Length : 0;
        foreach (var f in model.AllTensors().Select(t => t.Data).OfType<ExternalTensorData>().Select(e => e.FullPath).Distinct())
            total += PathSafety.Target(f).Length;
        return total;
    }
}
