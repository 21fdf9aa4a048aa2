// AGP 9 compiles Kotlin itself ("built-in Kotlin"): no kotlin-android plugin,
// and the Kotlin Gradle plugin on the classpath (2.4.20, from the root build
// file) is the compiler it uses.
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.plugin.compose")
}

android {
    namespace = "org.mailpresence.app"
    compileSdk = 36
    defaultConfig {
        applicationId = "org.mailpresence.app"
        minSdk = 26
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        // The company's app registrations for "Sign in with Microsoft/Google"
        // (README: Microsoft 365, Google Workspace); blank: the button is not shown.
        fun registration(name: String) = "\"" + (project.findProperty("mailpresence.$name") ?: "") + "\""
        buildConfigField("String", "MICROSOFT_CLIENT_ID", registration("microsoftClientId"))
        buildConfigField("String", "MICROSOFT_TENANT", registration("microsoftTenant"))
        buildConfigField("String", "GOOGLE_CLIENT_ID", registration("googleClientId"))
        // The ABIs scripts/build-android.sh builds the core for: without the
        // filter JNA's x86, armeabi and MIPS libraries would be packed as well,
        // and a phone of such an ABI would install an app without its core.
        ndk { abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64") }
    }
    buildFeatures { compose = true; buildConfig = true }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    // The NDK scripts/build-android.sh uses (cargo-ndk), AGP 9.1's default.
    ndkVersion = "28.2.13676358"
    // libmailpresence_core.so per ABI, from scripts/build-android.sh.
    sourceSets["main"].jniLibs.srcDir("src/main/jniLibs")
    // mappack.bin, copied from ../assets by copyMapPack before every build
    // (so `gradle clean` cannot leave an app without its map data).
    sourceSets["main"].assets.srcDir(layout.buildDirectory.dir("generated/mappack"))
}

val copyMapPack = tasks.register<Copy>("copyMapPack") {
    from(rootProject.file("../assets/mappack.bin"))
    into(layout.buildDirectory.dir("generated/mappack"))
}
tasks.named("preBuild") { dependsOn(copyMapPack) }

// Kotlin 2.x: compilerOptions replaces the removed kotlinOptions block.
kotlin { compilerOptions { jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17) } }

dependencies {
    implementation(project(":presence-ui")) {
        exclude(group = "net.java.dev.jna")
    }
    // 5.17.0 is the first JNA whose libjnidispatch.so loads on 16 KB-page
    // devices (5.13 to 5.16 are refused or crash there; Google Play refuses
    // apps targeting Android 15+ that pack them). scripts/build-android.sh
    // checks this aar's libraries (scripts/check-page-size.sh).
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    implementation(platform("androidx.compose:compose-bom:2024.12.01"))
    implementation("androidx.compose.material3:material3")
    implementation("androidx.compose.ui:ui")
    implementation("androidx.activity:activity-compose:1.9.3")
    implementation("androidx.lifecycle:lifecycle-process:2.8.7")
    implementation("androidx.lifecycle:lifecycle-runtime-ktx:2.8.7")
    implementation("androidx.compose.material3:material3-window-size-class")
    implementation("com.google.android.gms:play-services-location:21.3.0")
    implementation("androidx.security:security-crypto:1.1.0-alpha06")
    // Custom Tabs: the sign-in page in the browser the worker already trusts.
    implementation("androidx.browser:browser:1.8.0")
    // The enrolment code's QR scan: CameraX for the camera, ML Kit's bundled
    // barcode model (on the phone, no network) to read the code.
    implementation("androidx.camera:camera-camera2:1.4.1")
    implementation("androidx.camera:camera-lifecycle:1.4.1")
    implementation("androidx.camera:camera-view:1.4.1")
    implementation("com.google.mlkit:barcode-scanning:17.3.0")
}
