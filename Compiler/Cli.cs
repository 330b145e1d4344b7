using System.CommandLine;
using Microsoft.Extensions.Logging;
using Ternion.Compiler.Commands;
using Ternion.IR;

namespace Ternion.Compiler;

/// <summary>
/// The `ternion` command line. Exit codes: 0 success, 1 verification found differences, 2 any error
/// (bad input, bad options, I/O). Errors are one line on stderr, never a stack trace (unless -v).
/// </summary>
public static class Cli
{
    public const int ExitOk = 0, ExitDiffers = 1, ExitError = 2;

    public static readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "Log debug detail (near-misses, per-pass timings) to stderr", Recursive = true };

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("Ternion: compiles ONNX models with ternary weights (TTF1 packing, TernaryDecode) and lowers FlexAttention for any runtime.");
        root.Options.Add(Verbose);
        var ctx = new CliContext(stdout, stderr);
        root.Subcommands.Add(InspectCommand.Create(ctx));
        root.Subcommands.Add(ConvertCommand.Create(ctx));
        root.Subcommands.Add(VerifyCommand.Create(ctx));
        root.Subcommands.Add(CompileCommand.Create(ctx));
        root.Subcommands.Add(TargetsCommand.Create(ctx));
        foreach (var extra in ExtraCommands) root.Subcommands.Add(extra(ctx));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) stderr.WriteLine($"ternion: error: {e.Message}");
            stderr.WriteLine("Run 'ternion --help' for usage.");
            return ExitError;
        }
        ctx.VerboseEnabled = parse.GetValue(Verbose);
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return ReportError(e, ctx);
        }
        finally
        {
            ctx.Dispose();
        }
    }

    /// <summary>Commands added by other parts of the CLI (compile, targets) without this file knowing them.</summary>
    internal static readonly List<Func<CliContext, Command>> ExtraCommands = new();

    internal static int ReportError(Exception e, CliContext ctx)
    {
        var inner = e is AggregateException { InnerExceptions.Count: 1 } ae ? ae.InnerException! : e;
        string message = inner switch
        {
            TernionException te => te.Message,
            IOException io => $"I/O error: {io.Message}",
            UnauthorizedAccessException ua => $"permission denied: {ua.Message}",
            OperationCanceledException => "cancelled",
            OutOfMemoryException => "out of memory",
            _ => $"internal error ({inner.GetType().Name}): {inner.Message}; please report it with the model (run with -v for details)",
        };
        ctx.Stderr.WriteLine($"ternion: error: {OneLine(message)}");
        if (ctx.VerboseEnabled) ctx.Stderr.WriteLine(inner.ToString());
        return ExitError;
    }

    private static string OneLine(string s) => string.Join(" ", s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

/// <summary>What every command shares: the writers and the logger.</summary>
public sealed class CliContext(TextWriter stdout, TextWriter stderr) : IDisposable
{
    private ILoggerFactory? _factory;
    public TextWriter Stdout { get; } = stdout;
    public TextWriter Stderr { get; } = stderr;
    public bool VerboseEnabled { get; set; }

    // Built directly, not through LoggerFactory.Create: that sets up a dependency-injection container,
    // whose generic code compiled just in time cost every command about 30 ms of start-up.
    public ILoggerFactory LoggerFactory => _factory ??= new LoggerFactory(
        [new StderrLoggerProvider(Stderr)],
        new LoggerFilterOptions { MinLevel = VerboseEnabled ? LogLevel.Debug : LogLevel.Information });

    public ILogger Logger(string category) => LoggerFactory.CreateLogger(category);

    public void Dispose() => _factory?.Dispose();
}

/// <summary>Plain one-line log records on stderr ("ternion: debug: ..."), so stdout stays clean for --json.</summary>
internal sealed class StderrLoggerProvider(TextWriter writer) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new StderrLogger(writer);
    public void Dispose() { }

    private sealed class StderrLogger(TextWriter writer) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string level = logLevel switch
            {
                LogLevel.Trace or LogLevel.Debug => "debug",
                LogLevel.Information => "info",
                LogLevel.Warning => "warning",
                _ => "error",
            };
            lock (writer) writer.WriteLine($"ternion: {level}: {formatter(state, exception)}");
        }
    }
}
