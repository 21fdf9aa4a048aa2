// Versions that work together (Kotlin's and Android's compatibility tables):
// Kotlin 2.4 needs R8 9.1.29 or newer, which AGP 9.1 carries; AGP 9.1 needs
// Gradle 9.3.1 or newer and compiles Kotlin itself (no kotlin-android
// plugin); KGP 2.4 supports Gradle up to 9.5 and AGP up to 9.1.
plugins {
    id("com.android.application") version "9.1.1" apply false
    id("org.jetbrains.kotlin.jvm") version "2.4.20" apply false
    id("org.jetbrains.kotlin.plugin.compose") version "2.4.20" apply false
}
