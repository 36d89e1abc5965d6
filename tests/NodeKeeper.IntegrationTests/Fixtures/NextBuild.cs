using CliWrap;
using CliWrap.Buffered;

namespace NodeKeeper.IntegrationTests.Fixtures;

/// <summary>
/// A second build of nk-full from the same sources with another version ("0.0.1-next"), for `nk update` to replace the
/// tests' daemon with: built once per test run into a folder of its own (its own obj and bin, so the tests' build is
/// left alone), with `dotnet build --artifacts-path`. It starts when the test assembly loads, at a low priority, so
/// that it is done by the time the test that needs it runs (it takes a minute of CPU).
/// </summary>
public static class NextBuild
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void StartEarly()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            RunEnds.Cancel();
            try { Directory.Delete(Artifacts, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        _ = Built.Value;
    }

    public const string Version = "0.0.1-next";
    private static readonly Lazy<Task<string>> Built = new(BuildAsync);
    /// <summary>Ends the build (and the processes it started) if the test run ends first: nothing of it is left running.</summary>
    private static readonly CancellationTokenSource RunEnds = new();
    private static readonly string Artifacts = Path.Combine(Path.GetTempPath(), $"nk-next-build-{Environment.ProcessId}");

    /// <summary>The path of the other build's nk-full.</summary>
    public static Task<string> NkFullAsync() => Built.Value;

    private static async Task<string> BuildAsync()
    {
        var artifacts = Artifacts;
        var project = Path.Combine(Repo.Root, "src", "NodeKeeper.Cli", "NodeKeeper.Cli.csproj");
        var result = await CliWrap.Cli.Wrap("nice")
            .WithArguments(["-n", "10", "dotnet", "build", project, "-c", "Debug", $"-p:Version={Version}", "--artifacts-path", artifacts, "-v", "q", "-nologo", "--disable-build-servers"])
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(RunEnds.Token);
        if (result.ExitCode != 0) throw new InvalidOperationException($"building the next nk-full failed:\n{result.StandardOutput}\n{result.StandardError}");
        var nkFull = Path.Combine(artifacts, "bin", "NodeKeeper.Cli", "debug", "nk-full");
        if (!File.Exists(nkFull)) throw new InvalidOperationException($"the next build has no {nkFull}");
        return nkFull;
    }
}
