using System.Diagnostics;
using System.Text;
using NodeKeeper.Core.Diagnosis;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Diagnosis;

/// <summary>
/// <see cref="ExitClassifier"/> against real stderr captured from Node 18, 20 and 22 (Diagnosis/corpus, see its README),
/// and against the exits that no stderr can show (signals, OOM kills, code 0). Kept as one file (over 400 lines): it
/// is one table of cases, read top to bottom against the signature table.
/// </summary>
public class ExitClassifierTests
{
    private static readonly string[] Versions = ["node18", "node20", "node22"];

    private static string CorpusDir => Path.Combine(AppContext.BaseDirectory, "Diagnosis", "corpus");

    /// <summary>What each case must be classified as: reason, cause, and text that some evidence lines must contain.</summary>
    private sealed record Expect(string Reason, string? Cause, params string[] Evidence);

    private static readonly Dictionary<string, Expect> Expected = new()
    {
        ["heap-oom"] = new(ExitReasons.OomHeap, ExitCauses.HeapLimit,
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory", "ms: Mark-"),
        ["worker-heap-oom"] = new(ExitReasons.OomHeap, ExitCauses.WorkerHeapLimit,
            "Error [ERR_WORKER_OUT_OF_MEMORY]: Worker terminated due to reaching memory limit: JS heap out of memory"),
        ["emfile-open"] = new(ExitReasons.Emfile, null, "Error: EMFILE: too many open files, open '/tmp/nkcorpus/app/emfile-open.js'",
            "at Object.openSync"),
        ["emfile-watch"] = new(ExitReasons.Emfile, ExitCauses.EmfileWatch, "Error: EMFILE: too many open files, watch '/tmp/nkcorpus/app'"),
        ["enospc-watch"] = new(ExitReasons.Emfile, ExitCauses.EmfileWatch,
            "Error: ENOSPC: System limit for number of file watchers reached, watch '/tmp/nkcorpus/app/watched/d5'"),
        ["handled-emfile-then-typeerror"] = new(ExitReasons.Crash, ExitCauses.UncaughtException,
            "TypeError: Cannot read properties of undefined (reading 'name')", "handled-emfile-then-typeerror.js:12:"),
        ["eaddrinuse"] = new(ExitReasons.EaddrInUse, null, "Error: listen EADDRINUSE: address already in use 127.0.0.1:"),
        ["cjs-module-not-found"] = new(ExitReasons.ModuleNotFound, ExitCauses.CjsModuleNotFound,
            "Error: Cannot find module 'express'", "- /tmp/nkcorpus/app/cjs-module-not-found.js",
            "at Object.<anonymous> (/tmp/nkcorpus/app/cjs-module-not-found.js:2:17)"),
        ["esm-package-not-found"] = new(ExitReasons.ModuleNotFound, ExitCauses.EsmModuleNotFound,
            "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'express' imported from /tmp/nkcorpus/app/esm-package-not-found.mjs"),
        ["esm-module-not-found"] = new(ExitReasons.ModuleNotFound, ExitCauses.EsmModuleNotFound,
            "Error [ERR_MODULE_NOT_FOUND]: Cannot find module '/tmp/nkcorpus/app/config.mjs' imported from"),
        ["uncaught-typeerror"] = new(ExitReasons.Crash, ExitCauses.UncaughtException,
            "TypeError: Cannot read properties of undefined (reading 'name')",
            "at Timeout._onTimeout (/tmp/nkcorpus/app/uncaught-typeerror.js:4:26)"),
        ["thrown-string"] = new(ExitReasons.Crash, ExitCauses.ThrownNonError,
            "database unavailable", "/tmp/nkcorpus/app/thrown-string.js:3"),
        // Node 18-22 print an unhandled rejection with an Error reason exactly like an uncaught exception.
        ["unhandled-rejection"] = new(ExitReasons.Crash, ExitCauses.UncaughtException,
            "Error: user 42 not found", "at loadUser (/tmp/nkcorpus/app/unhandled-rejection.js:4:9)"),
        ["unhandled-rejection-string"] = new(ExitReasons.Crash, ExitCauses.UnhandledRejection,
            "The promise rejected with the reason \"connection refused\""),
        ["syntax-error"] = new(ExitReasons.Crash, ExitCauses.SyntaxError,
            "SyntaxError: missing ) after argument list", "/tmp/nkcorpus/app/syntax-error.js:5",
            "server.listen(port, () => console.log('listening on', port);"),
        ["stack-overflow"] = new(ExitReasons.Crash, ExitCauses.StackOverflow,
            "RangeError: Maximum call stack size exceeded", "at walk (/tmp/nkcorpus/app/stack-overflow.js:2:"),
        ["headers-sent"] = new(ExitReasons.Crash, ExitCauses.HeadersSent,
            "Error [ERR_HTTP_HEADERS_SENT]: Cannot set headers after they are sent to the client",
            "at Server.<anonymous> (/tmp/nkcorpus/app/headers-sent.js:5:7)"),
        ["headers-sent-writehead"] = new(ExitReasons.Crash, ExitCauses.HeadersSent,
            "Error [ERR_HTTP_HEADERS_SENT]: Cannot write headers after they are sent to the client", "headers-sent-writehead.js:6:"),
        ["seed-uncaught-handler"] = new(ExitReasons.Crash, ExitCauses.UncaughtException,
            "Uncaught Exception: TypeError: Cannot read properties of undefined (reading 'connect')",
            "at Timeout._onTimeout (/tmp/nkcorpus/app/seed-uncaught-handler.js:8:13)"),
        ["spawn-eagain"] = new(ExitReasons.Crash, ExitCauses.ForkEagain, "Error: spawn sleep EAGAIN"),
        ["cluster-fork-eagain"] = new(ExitReasons.Crash, ExitCauses.ForkEagain, "Error: spawn /", " EAGAIN"),
        ["worker-init-failed"] = new(ExitReasons.Crash, ExitCauses.WorkerInitFailed,
            "Error: EAGAIN", "code: 'ERR_WORKER_INIT_FAILED'", "at Object.<anonymous> (/tmp/nkcorpus/app/worker-init-failed.js:4:"),
        ["native-abort-nproc"] = new(ExitReasons.Signal, ExitCauses.NativeCrash, "Assertion", "uv_thread_create"),
        ["clean-exit-warning"] = new(ExitReasons.Exit, null),
        ["exit-3"] = new(ExitReasons.Crash, null, "config: DATABASE_URL is not set; refusing to start"),
    };

    /// <summary>Where a Node major really reports a case differently.</summary>
    private static readonly Dictionary<(string Version, string Case), Expect> PerVersion = new()
    {
        // Node 18's writeHead after end() does not throw; the second end() fails with "write after end".
        [("node18", "headers-sent-writehead")] = new(ExitReasons.Crash, ExitCauses.WriteAfterEnd,
            "Error [ERR_STREAM_WRITE_AFTER_END]: write after end", "headers-sent-writehead.js:6:"),
    };

    public static TheoryData<string, string> CorpusFiles()
    {
        var data = new TheoryData<string, string>();
        foreach (var version in Versions)
        {
            var dir = Path.Combine(CorpusDir, version);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.GetFiles(dir, "*.txt").Order(StringComparer.Ordinal))
                data.Add(version, Path.GetFileNameWithoutExtension(file));
        }
        return data;
    }

    /// <summary>One captured run: the header line's code and signal, and the stderr after it.</summary>
    private sealed record Capture(int? Code, string? Signal, string Stderr);

    private static Capture Load(string version, string name)
    {
        var text = File.ReadAllText(Path.Combine(CorpusDir, version, name + ".txt"));
        var newline = text.IndexOf('\n');
        var header = text[..newline];
        header.Should().StartWith("# nk-corpus ");
        var code = Field(header, "code");
        var signal = Field(header, "signal");
        return new Capture(code.Length == 0 ? null : int.Parse(code), signal.Length == 0 ? null : signal, text[(newline + 1)..]);
    }

    private static string Field(string header, string key)
    {
        var at = header.IndexOf(" " + key + "=", StringComparison.Ordinal) + key.Length + 2;
        var end = header.IndexOf(' ', at);
        return header[at..end];
    }

    private static void ShouldBeCleanEvidence(ExitDiagnosis d)
    {
        d.Evidence.Count.Should().BeLessThanOrEqualTo(ExitClassifier.MaxEvidenceLines);
        foreach (var line in d.Evidence)
        {
            line.Should().NotBeNullOrWhiteSpace();
            line.Should().Be(line.Trim());
            line.Should().NotContain("\u001b").And.NotContain("\r");
        }
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void Real_node_stderr_is_classified(string version, string name)
    {
        var run = Load(version, name);
        var expect = PerVersion.GetValueOrDefault((version, name)) ?? Expected[name];

        var d = ExitClassifier.Classify(run.Code, run.Signal, run.Stderr);

        d.Reason.Should().Be(expect.Reason, "{0}/{1} exited with code {2} signal {3}", version, name, run.Code, run.Signal);
        d.Cause.Should().Be(expect.Cause);
        ShouldBeCleanEvidence(d);
        foreach (var key in expect.Evidence)
            d.Evidence.Should().Contain(l => l.Contains(key, StringComparison.Ordinal), "the evidence should show \"{0}\" but was:\n{1}",
                key, string.Join('\n', d.Evidence));
        if (expect.Reason == ExitReasons.Exit) d.Evidence.Should().BeEmpty();
        else d.Evidence.Should().NotBeEmpty();
    }

    [Fact]
    public void The_corpus_has_every_case_for_every_node_major()
    {
        foreach (var version in Versions)
        {
            var dir = Path.Combine(CorpusDir, version);
            Directory.Exists(dir).Should().BeTrue("{0} is copied to the output", dir);
            var cases = Directory.GetFiles(dir, "*.txt").Select(Path.GetFileNameWithoutExtension).ToList();
            cases.Should().BeEquivalentTo(Expected.Keys, "{0} has each case once and no case without an expectation", version);
            foreach (var c in cases)
                File.ReadAllText(Path.Combine(dir, c + ".txt")).Should().Contain($"node=v{version[4..]}.", "{0}/{1} is from that major", version, c);
        }
    }

    [Fact]
    public void Heap_oom_evidence_is_the_fatal_line_and_the_last_mark_compact()
    {
        var run = Load("node20", "heap-oom");

        var d = ExitClassifier.Classify(run.Code, run.Signal, run.Stderr);

        d.Evidence.Should().HaveCount(2);
        d.Evidence[0].Should().Contain("Mark-Compact 31.5 (48.5) -> 31.5 (64.5) MB");
        d.Evidence[1].Should().Be("FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory");
    }

    [Fact]
    public void Uncaught_exception_evidence_is_the_message_and_the_first_frames()
    {
        var run = Load("node22", "uncaught-typeerror");

        var d = ExitClassifier.Classify(run.Code, run.Signal, run.Stderr);

        d.Evidence.Should().Equal(
            "TypeError: Cannot read properties of undefined (reading 'name')",
            "at Timeout._onTimeout (/tmp/nkcorpus/app/uncaught-typeerror.js:4:26)",
            "at listOnTimeout (node:internal/timers:585:17)",
            "at process.processTimers (node:internal/timers:521:7)");
    }

    [Fact]
    public void Cjs_module_not_found_evidence_has_the_require_stack_and_the_requiring_frame()
    {
        var run = Load("node20", "cjs-module-not-found");

        var d = ExitClassifier.Classify(run.Code, run.Signal, run.Stderr);

        d.Evidence.Should().Equal(
            "Error: Cannot find module 'express'",
            "Require stack:",
            "- /tmp/nkcorpus/app/cjs-module-not-found.js",
            "at Module._resolveFilename (node:internal/modules/cjs/loader:1207:15)",
            "at Module._load (node:internal/modules/cjs/loader:1038:27)",
            "at Module.require (node:internal/modules/cjs/loader:1289:19)",
            "at Object.<anonymous> (/tmp/nkcorpus/app/cjs-module-not-found.js:2:17)");
    }

    // ------------------------------------------------------------------ signals and code 0

    [Theory]
    [InlineData(false, false, ExitReasons.Signal, ExitCauses.ExternalSignal)]
    [InlineData(false, true, ExitReasons.OomKernel, ExitCauses.CgroupOomKill)]
    [InlineData(true, false, ExitReasons.Signal, ExitCauses.SentByNodeKeeper)]
    [InlineData(true, true, ExitReasons.Signal, ExitCauses.SentByNodeKeeper)]
    public void Sigkill_is_oom_kernel_only_with_cgroup_evidence_and_when_nodekeeper_did_not_send_it(
        bool sentByUs, bool kernelOomKill, string reason, string cause)
    {
        var d = ExitClassifier.Classify(null, "SIGKILL", "listening on :3000\n", sentByUs, kernelOomKill);

        d.Should().BeEquivalentTo(new ExitDiagnosis(reason, cause, []));
    }

    [Fact]
    public void Code_137_with_cgroup_oom_kill_is_oom_kernel_when_a_wrapper_reported_the_kill()
    {
        ExitClassifier.Classify(137, null, "", kernelOomKill: true).Reason.Should().Be(ExitReasons.OomKernel);
        ExitClassifier.Classify(137, null, "").Reason.Should().Be(ExitReasons.Crash);
    }

    [Fact]
    public void Signal_names_without_the_sig_prefix_are_understood()
    {
        ExitClassifier.Classify(null, "KILL", "", kernelOomKill: true).Reason.Should().Be(ExitReasons.OomKernel);
        ExitClassifier.Classify(null, "sigterm", "").Cause.Should().Be(ExitCauses.ExternalSignal);
    }

    [Fact]
    public void Code_0_is_always_exit_whatever_stderr_or_the_flags_say()
    {
        foreach (var version in Versions)
        foreach (var name in Expected.Keys)
        {
            var d = ExitClassifier.Classify(0, null, Load(version, name).Stderr, signalSentByNodeKeeper: true, kernelOomKill: true);
            d.Reason.Should().Be(ExitReasons.Exit, "{0}/{1} with code 0", version, name);
            d.Cause.Should().BeNull();
            d.Evidence.Should().BeEmpty();
        }
    }

    [Theory]
    [InlineData("SIGTERM")]
    [InlineData("SIGINT")]
    [InlineData("SIGHUP")]
    public void A_signal_nodekeeper_did_not_send_is_signal_even_after_an_error_in_stderr(string signal)
    {
        var stderr = Load("node20", "emfile-open").Stderr;

        var d = ExitClassifier.Classify(null, signal, stderr);

        d.Should().BeEquivalentTo(new ExitDiagnosis(ExitReasons.Signal, ExitCauses.ExternalSignal, []));
    }

    [Fact]
    public void Sigabrt_with_nothing_in_stderr_is_a_native_crash()
    {
        var d = ExitClassifier.Classify(null, "SIGABRT", "");

        d.Should().BeEquivalentTo(new ExitDiagnosis(ExitReasons.Signal, ExitCauses.NativeCrash, []));
    }

    [Fact]
    public void Sigsegv_keeps_the_last_lines_as_evidence()
    {
        var d = ExitClassifier.Classify(null, "SIGSEGV", "loading native addon\nbinding.node loaded\n");

        d.Reason.Should().Be(ExitReasons.Signal);
        d.Cause.Should().Be(ExitCauses.NativeCrash);
        d.Evidence.Should().Equal("loading native addon", "binding.node loaded");
    }

    [Fact]
    public void Sigsegv_after_an_error_the_app_logged_and_survived_is_a_native_crash()
    {
        const string tail = """
            db: Error: connect ECONNREFUSED 127.0.0.1:5432 (retrying)
                at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)
            db: connected
            loading native addon
            """;

        var d = ExitClassifier.Classify(null, "SIGSEGV", tail);

        d.Reason.Should().Be(ExitReasons.Signal);
        d.Cause.Should().Be(ExitCauses.NativeCrash);
        d.Evidence.Should().Equal("at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)", "db: connected", "loading native addon");
    }

    // ------------------------------------------------------------------ the shape of the tail

    [Fact]
    public void An_empty_tail_with_a_non_zero_code_is_a_crash_without_evidence()
    {
        ExitClassifier.Classify(1, null, "").Should().BeEquivalentTo(new ExitDiagnosis(ExitReasons.Crash, null, []));
        ExitClassifier.Classify(2, null, "\n\n  \n").Should().BeEquivalentTo(new ExitDiagnosis(ExitReasons.Crash, null, []));
    }

    [Fact]
    public void A_tail_that_begins_mid_line_still_finds_the_error()
    {
        var tail = "ing 4 of 12 connections (pool warming)\n" + Load("node22", "eaddrinuse").Stderr;

        var d = ExitClassifier.Classify(1, null, tail);

        d.Reason.Should().Be(ExitReasons.EaddrInUse);
        d.Evidence[0].Should().StartWith("Error: listen EADDRINUSE: address already in use 127.0.0.1:");
    }

    [Fact]
    public void A_tail_cut_inside_the_error_message_is_classified_from_the_code_property()
    {
        var full = Load("node20", "eaddrinuse").Stderr;
        var tail = full[(full.IndexOf("EADDRINUSE", StringComparison.Ordinal) + 3)..]; // "RINUSE: address already in use ..."

        var d = ExitClassifier.Classify(1, null, tail);

        d.Reason.Should().Be(ExitReasons.EaddrInUse);
        d.Evidence.Should().ContainSingle().Which.Should().Be("code: 'EADDRINUSE',");
    }

    [Fact]
    public void Ansi_escapes_and_crlf_are_stripped_and_do_not_change_the_result()
    {
        var plain = Load("node20", "uncaught-typeerror").Stderr;
        var colored = plain
            .Replace("TypeError:", "\u001b[31m\u001b[1mTypeError\u001b[22m\u001b[39m:", StringComparison.Ordinal)
            .Replace("    at listOnTimeout", "\u001b[90m    at listOnTimeout", StringComparison.Ordinal)
            .Replace("(node:internal/timers:581:17)", "(node:internal/timers:581:17)\u001b[39m", StringComparison.Ordinal)
            .Replace("Node.js v20", "\u001b]8;;https://nodejs.org\u0007Node.js\u001b]8;;\u0007 v20", StringComparison.Ordinal)
            .Replace("\n", "\r\n", StringComparison.Ordinal);

        var expected = ExitClassifier.Classify(1, null, plain);
        var d = ExitClassifier.Classify(1, null, colored);

        d.Reason.Should().Be(ExitReasons.Crash);
        d.Cause.Should().Be(ExitCauses.UncaughtException);
        d.Evidence.Should().Equal(expected.Evidence);
        d.Evidence[0].Should().Be("TypeError: Cannot read properties of undefined (reading 'name')");
        ShouldBeCleanEvidence(d);
    }

    [Fact]
    public void A_64_KiB_tail_of_noise_then_the_fatal_error_is_classified_by_the_fatal_error()
    {
        var noise = new StringBuilder();
        for (var i = 0; noise.Length < 70 * 1024; i++)
        {
            noise.Append("2025-01-01T12:00:00Z warn request ").Append(i).Append(" slow (1200 ms) GET /api/items?page=").Append(i).Append('\n');
            if (i % 97 == 0) noise.Append("cache: EMFILE: too many open files, open '/var/cache/x' (retrying)\n");
            if (i % 131 == 0) noise.Append(Load("node20", "handled-emfile-then-typeerror").Stderr.Split("/tmp/nkcorpus/app/handled-emfile-then-typeerror.js:12")[0]);
        }
        var fatal = Load("node18", "cjs-module-not-found").Stderr;
        var all = noise + fatal;
        var tail = all[^(64 * 1024)..];

        var sw = Stopwatch.StartNew();
        var d = ExitClassifier.Classify(1, null, tail);
        sw.Stop();

        d.Reason.Should().Be(ExitReasons.ModuleNotFound);
        d.Cause.Should().Be(ExitCauses.CjsModuleNotFound);
        d.Evidence[0].Should().Be("Error: Cannot find module 'express'");
        sw.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void Pathological_single_line_tails_are_linear()
    {
        var words = string.Concat(Enumerable.Repeat("AAAAAAAAAAError", 64 * 1024 / 15));
        var brackets = "TypeError [" + new string('E', 64 * 1024);
        var escapes = string.Concat(Enumerable.Repeat("\u001b[", 32 * 1024));

        var sw = Stopwatch.StartNew();
        foreach (var tail in new[] { words, brackets, escapes, new string('^', 64 * 1024), new string(' ', 64 * 1024) + "at x" })
            ExitClassifier.Classify(1, null, tail).Reason.Should().Be(ExitReasons.Crash);
        sw.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void Evidence_lines_are_cut_at_the_maximum_length()
    {
        var d = ExitClassifier.Classify(1, null, "Error: " + new string('x', 5000) + "\n    at f (/app/a.js:1:1)\n");

        d.Evidence[0].Length.Should().Be(ExitClassifier.MaxEvidenceLineLength);
        d.Evidence[0].Should().EndWith("…");
    }

    // ------------------------------------------------------------------ the last fatal error wins

    [Fact]
    public void A_handled_emfile_line_before_a_clean_exit_is_exit()
    {
        var d = ExitClassifier.Classify(0, null, "cache: EMFILE: too many open files, open '/var/cache/x'\n");

        d.Should().BeEquivalentTo(new ExitDiagnosis(ExitReasons.Exit, null, []));
    }

    [Fact]
    public void The_last_error_block_wins_over_an_earlier_specific_one()
    {
        var tail = Load("node22", "eaddrinuse").Stderr.Replace("Node.js v22.23.3\n", "", StringComparison.Ordinal) +
                   Load("node22", "stack-overflow").Stderr;

        var d = ExitClassifier.Classify(1, null, tail);

        d.Reason.Should().Be(ExitReasons.Crash);
        d.Cause.Should().Be(ExitCauses.StackOverflow);
    }

    [Fact]
    public void A_logged_error_then_a_non_zero_exit_keeps_its_specific_cause()
    {
        const string tail = """
            server starting
            failed to bind: Error: listen EADDRINUSE: address already in use :::3000
                at Server.setupListenHandle [as _listen2] (node:net:1908:16)
                at listenInCluster (node:net:1965:12) {
              code: 'EADDRINUSE',
              errno: -98,
              syscall: 'listen',
              address: '::',
              port: 3000
            }
            shutting down
            """;

        var d = ExitClassifier.Classify(1, null, tail);

        d.Reason.Should().Be(ExitReasons.EaddrInUse);
        d.Evidence[0].Should().Be("failed to bind: Error: listen EADDRINUSE: address already in use :::3000");
    }

    [Fact]
    public void A_plain_logged_error_then_exit_is_a_crash_with_cause_logged_error()
    {
        const string tail = """
            Error: connect ECONNREFUSED 127.0.0.1:5432
                at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16) {
              errno: -111,
              code: 'ECONNREFUSED',
              syscall: 'connect',
              address: '127.0.0.1',
              port: 5432
            }
            """;

        var d = ExitClassifier.Classify(1, null, tail);

        d.Should().BeEquivalentTo(new ExitDiagnosis(ExitReasons.Crash, ExitCauses.LoggedError, [
            "Error: connect ECONNREFUSED 127.0.0.1:5432",
            "at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)",
        ]), o => o.WithStrictOrdering());
    }

    [Fact]
    public void Process_warnings_are_not_errors()
    {
        const string tail = """
            (node:4242) UnhandledPromiseRejectionWarning: Error: EMFILE: too many open files
            (node:4242) [DEP0005] DeprecationWarning: Buffer() is deprecated
            bye
            """;

        var d = ExitClassifier.Classify(2, null, tail);

        // No error block; the last lines still show EMFILE on a non-zero exit.
        d.Reason.Should().Be(ExitReasons.Emfile);
        d.Evidence.Should().ContainSingle().Which.Should().StartWith("(node:4242) UnhandledPromiseRejectionWarning");
    }

    // ------------------------------------------------------------------ message formats not in the corpus

    [Fact]
    public void Koa_next_called_multiple_times()
    {
        const string tail = """
            /app/node_modules/koa-compose/index.js:36
                  if (i <= index) return Promise.reject(new Error('next() called multiple times'))
                                                        ^

            Error: next() called multiple times
                at dispatch (/app/node_modules/koa-compose/index.js:36:45)
                at next (/app/src/middleware/auth.js:14:11)

            Node.js v20.20.2
            """;

        var d = ExitClassifier.Classify(1, null, tail);

        d.Reason.Should().Be(ExitReasons.Crash);
        d.Cause.Should().Be(ExitCauses.NextCalledTwice);
        d.Evidence.Should().StartWith("Error: next() called multiple times");
    }

    [Theory]
    [InlineData("Error: cluster.fork() failed: Resource temporarily unavailable", ExitReasons.Crash, ExitCauses.ForkEagain)]
    [InlineData("Error: Cannot create child process: EAGAIN", ExitReasons.Crash, ExitCauses.ForkEagain)]
    [InlineData("Error: Worker failed to initialize", ExitReasons.Crash, ExitCauses.WorkerInitFailed)]
    [InlineData("Error [ERR_WORKER_INIT_FAILED]: Worker initialization failure: EAGAIN", ExitReasons.Crash, ExitCauses.WorkerInitFailed)]
    [InlineData("Error [ERR_WORKER_INIT_FAILED]: Worker initialization failure: EMFILE", ExitReasons.Emfile, null)]
    public void Other_wordings_of_fork_and_worker_failures(string header, string reason, string? cause)
    {
        var d = ExitClassifier.Classify(1, null, header + "\n    at start (/app/server.js:10:3)\n");

        d.Reason.Should().Be(reason);
        d.Cause.Should().Be(cause);
        d.Evidence.Should().Equal(header, "at start (/app/server.js:10:3)");
    }

    [Fact]
    public void A_json_parse_syntax_error_is_an_uncaught_exception_not_bad_code()
    {
        const string tail = """
            undefined:1
            {"port": 3000,}
                          ^

            SyntaxError: Expected double-quoted property name in JSON at position 14 (line 1 column 15)
                at JSON.parse (<anonymous>)
                at loadConfig (/app/src/config.js:7:15)

            Node.js v22.23.3
            """;

        var d = ExitClassifier.Classify(1, null, tail);

        d.Cause.Should().Be(ExitCauses.UncaughtException);
        d.Evidence.Should().Contain("at loadConfig (/app/src/config.js:7:15)");
    }

    [Fact]
    public void An_unhandled_rejection_printed_by_the_app_handler()
    {
        const string tail = """
            Unhandled Rejection at: Promise {
              <rejected> Error: timeout
                  at Timeout._onTimeout (/app/src/db.js:20:12)
            } reason: Error: timeout
                at Timeout._onTimeout (/app/src/db.js:20:12)
            """;

        var d = ExitClassifier.Classify(1, null, tail);

        d.Reason.Should().Be(ExitReasons.Crash);
        d.Cause.Should().Be(ExitCauses.UnhandledRejection);
        d.Evidence.Should().StartWith("Unhandled Rejection at: Promise {");
    }

    [Fact]
    public void An_unhandled_error_event_without_a_specific_cause()
    {
        const string tail = """
            node:events:502
                  throw er; // Unhandled 'error' event
                  ^

            Error: read ECONNRESET
                at TCP.onStreamRead (node:internal/stream_base_commons:216:20)
            Emitted 'error' event on Socket instance at:
                at emitErrorNT (node:internal/streams/destroy:170:8)
                at process.processTicksAndRejections (node:internal/process/task_queues:82:21) {
              errno: -104,
              code: 'ECONNRESET',
              syscall: 'read'
            }

            Node.js v20.20.2
            """;

        var d = ExitClassifier.Classify(1, null, tail);

        d.Should().BeEquivalentTo(new ExitDiagnosis(ExitReasons.Crash, ExitCauses.UnhandledErrorEvent, [
            "Error: read ECONNRESET",
            "at TCP.onStreamRead (node:internal/stream_base_commons:216:20)",
            "Emitted 'error' event on Socket instance at:",
        ]), o => o.WithStrictOrdering());
    }

    [Fact]
    public void Heap_oom_reported_through_a_wrapper_exit_code_is_still_oom_heap()
    {
        var run = Load("node18", "heap-oom");

        var d = ExitClassifier.Classify(134, null, run.Stderr);

        d.Reason.Should().Be(ExitReasons.OomHeap);
        d.Cause.Should().Be(ExitCauses.HeapLimit);
    }
}
