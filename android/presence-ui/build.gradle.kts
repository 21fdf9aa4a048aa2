// The app's plain Kotlin: no Android classes, so it also runs on a desktop JVM
// (scripts/test-kotlin.sh does that against the real core library). The
// generated bindings (scripts/bindings.sh) are compiled in from build/.
plugins { id("org.jetbrains.kotlin.jvm") }

kotlin { jvmToolchain(17) }

sourceSets {
    main { kotlin.srcDir(rootProject.file("../target/bindings/kotlin")) }
}

dependencies {
    implementation("net.java.dev.jna:jna:5.17.0")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.8.0")
    testImplementation("junit:junit:4.13.2")
}

// The tests run against the real core: `cargo build -p mailpresence-core`
// first (scripts/test-kotlin.sh does the same on the JVM without Gradle).
tasks.test {
    val repo = rootProject.file("..")
    systemProperty("repo.root", repo.path)
    // The sign-in tests' provider: `scripts/oauth-endpoint.py --port N` running.
    systemProperty("oauth.url", System.getenv("MAILPRESENCE_OAUTH_URL") ?: "")
    systemProperty("jna.library.path", System.getenv("CARGO_TARGET_DIR")?.let { "$it/debug" } ?: repo.resolve("target/debug").path)
}
