using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using NodeKeeper.Core.Import;

namespace NodeKeeper.Cli;

/// <summary>
/// `nk import ecosystem.config.js [--env NAME]`: evaluates a PM2 ecosystem file with node and prints the equivalent
/// nodekeeper.toml on stdout; every PM2 option that is not carried over is named on stderr, with why.
/// Exit codes: 0 printed; 1 node could not evaluate the file; 2 no such file, or it holds no importable app.
/// </summary>
public static class ImportCommand
{
    private const int Ok = 0, Failed = 1, Usage = 2;
    private const string Marker = "--nk-import-json--";
    private const string ErrorMarker = "nk-import-error: ";
    private static readonly TimeSpan EvaluationTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Evaluates the ecosystem file as PM2 does (require, or import for an ES module) and prints it as JSON after a
    /// marker line, so whatever the file itself prints cannot be mistaken for it. The path comes in as an argument.
    /// </summary>
    private const string EvaluateScript = """
        'use strict';
        const path = require('path');
        const url = require('url');
        const file = path.resolve(process.argv[1]);
        const href = url.pathToFileURL(file).href;
        function oneLine(e) {
          const text = (s) => String(s).replace(/\s*[\r\n]+\s*/g, ' ').trim();
          if (!(e instanceof Error)) return 'it threw ' + text(typeof e === 'string' ? e : JSON.stringify(e) ?? e);
          const message = (e.name || 'Error') + ': ' + text(String(e.message).split('\n')[0]);
          const stack = String(e.stack || '');
          let where = '';
          for (const name of [file, href]) {
            const at = stack.indexOf(name + ':');
            if (at >= 0) {
              const m = /^:(\d+)(?::(\d+))?/.exec(stack.slice(at + name.length));
              if (m) { where = ' (at ' + path.basename(file) + ':' + m[1] + (m[2] ? ':' + m[2] : '') + ')'; break; }
            }
          }
          return message + where;
        }
        (async () => {
          let m;
          try { m = require(file); }
          catch (e) {
            if (!e || (e.code !== 'ERR_REQUIRE_ESM' && e.code !== 'ERR_REQUIRE_ASYNC_MODULE')) throw e;
            m = await import(href);
          }
          if (m && Object.prototype.toString.call(m) === '[object Module]') m = 'default' in m ? m.default : { ...m };
          else if (m && m.__esModule && 'default' in m && !('apps' in m)) m = m.default;
          let out = m;
          if (Array.isArray(m)) out = { apps: m };
          else if (m && typeof m === 'object' && !('apps' in m) && !('pm2' in m)) out = { apps: [m] };
          const json = JSON.stringify(out === undefined ? null : out);
          process.stdout.write('\n--nk-import-json--\n' + json + '\n', () => process.exit(0));
        })().catch((e) => {
          process.stderr.write('\nnk-import-error: ' + oneLine(e) + '\n', () => process.exit(1));
        });
        """;

    public static Command Build()
    {
        var file = new Argument<string>("file") { Description = "the PM2 ecosystem file (ecosystem.config.js, .cjs, .mjs or .json)" };
        var env = new Option<string?>("--env") { Description = "merge env_NAME over env, as pm2 start --env NAME does", HelpName = "NAME" };
        var cmd = new Command("import", "print the nodekeeper.toml equivalent of a PM2 ecosystem file") { file, env };
        cmd.SetAction((p, ct) => RunAsync(p.GetValue(file)!, p.GetValue(env), ct));
        return cmd;
    }

    private static async Task<int> RunAsync(string file, string? envName, CancellationToken ct)
    {
        var full = Path.GetFullPath(file);
        if (!File.Exists(full))
        {
            await Console.Error.WriteLineAsync(Directory.Exists(full)
                ? $"nk: import: {file} is a folder: give the ecosystem file, such as {Path.Combine(file, "ecosystem.config.js")}"
                : $"nk: import: {file}: no such file: give the path of a PM2 ecosystem file");
            return Usage;
        }
        if (Path.GetExtension(full).ToLowerInvariant() is ".yml" or ".yaml")
        {
            await Console.Error.WriteLineAsync($"nk: import: {file}: YAML ecosystem files are not read: convert it to ecosystem.config.js or .json");
            return Usage;
        }
        if (envName is { Length: 0 })
        {
            await Console.Error.WriteLineAsync("nk: import: --env needs a name, such as --env production");
            return Usage;
        }

        var (json, error) = await EvaluateAsync(full, ct);
        if (json is null)
        {
            await Console.Error.WriteLineAsync($"nk: import: {file}: {error}");
            return Failed;
        }

        ImportResult result;
        try
        {
            using var doc = JsonDocument.Parse(json);
            result = EcosystemImporter.Import(doc.RootElement, new ImportOptions
            {
                EcosystemDirectory = Path.GetDirectoryName(full)!,
                EcosystemFile = Path.GetFileName(full),
                EnvName = envName,
                CpuCount = Environment.ProcessorCount,
                HomeDirectory = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home ? home : null,
                FileExists = File.Exists,
            });
        }
        catch (JsonException ex)
        {
            await Console.Error.WriteLineAsync($"nk: import: {file}: node printed no readable JSON for it: {ex.Message}");
            return Failed;
        }

        foreach (var note in result.Notes) await Console.Error.WriteLineAsync($"nk: import: {note}");
        if (!result.Ok)
        {
            foreach (var e in result.Errors) await Console.Error.WriteLineAsync($"nk: import: {file}: {e}");
            return Usage;
        }
        await Console.Out.WriteAsync(result.Toml);
        await Console.Out.FlushAsync(ct);
        return Ok;
    }

    /// <summary>The file's exports as JSON, or why node could not give them (one line).</summary>
    private static async Task<(string? Json, string? Error)> EvaluateAsync(string path, CancellationToken ct)
    {
        var psi = new ProcessStartInfo("node")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(path)!,
        };
        psi.ArgumentList.Add("-e");
        psi.ArgumentList.Add(EvaluateScript);
        psi.ArgumentList.Add("--");
        psi.ArgumentList.Add(path);

        Process process;
        try { process = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (null, $"cannot run node to evaluate it ({ex.Message}): install Node.js or put node on PATH");
        }
        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(EvaluationTimeout);
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException)
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                ct.ThrowIfCancellationRequested();
                return (null, $"node did not finish evaluating it within {EvaluationTimeout.TotalSeconds:0}s (does it start something, or wait for input?)");
            }
            var (output, errors) = (await stdout, await stderr);
            var at = output.LastIndexOf("\n" + Marker + "\n", StringComparison.Ordinal);
            if (process.ExitCode == 0 && at >= 0) return (output[(at + Marker.Length + 2)..], null);

            var lines = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var ours = lines.LastOrDefault(l => l.StartsWith(ErrorMarker, StringComparison.Ordinal));
            var why = ours is not null ? ours[ErrorMarker.Length..]
                : lines.Length > 0 ? lines[^1]
                : $"node exited with code {process.ExitCode} before printing it (does it call process.exit?)";
            return (null, $"node could not evaluate it: {why}");
        }
    }
}
