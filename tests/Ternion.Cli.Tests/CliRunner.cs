using Ternion.Compiler;

namespace Ternion.Cli.Tests;

/// <summary>Runs the `ternion` CLI in-process and captures what a user would see.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public string[] ErrorLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}

public static class CliRunner
{
    private static readonly object Gate = new();

    public static CliResult Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code;
        lock (Gate) code = Ternion.Compiler.Cli.Run(args, o, e);
        return new CliResult(code, o.ToString(), e.ToString());
    }
}
