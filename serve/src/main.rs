fn main() {
    println!("realizar");
}
